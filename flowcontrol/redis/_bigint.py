"""Exact integers inside Redis Lua scripts (the text of a Lua prelude; no I/O of its own,
it is part of the Redis I/O adapter).

Redis runs Lua 5.1 whose only number is a double, exact below 2**53; nanosecond instants
reach 2**62 and GCRA's scaled instants more. So an instant never becomes a Lua number:
it travels as decimal text (``str(n)`` in Python, ``int(reply)`` back), is parsed by
``fc_parse`` into a sign and base-10**7 limbs, computed on with the functions below,
and printed back with ``fc_str`` before it goes to ``redis.call`` or into the reply.
Every limb operation stays below 2**53, so the arithmetic is exact at any size.

Functions of :data:`BIGINT_LUA` (a number is a table of limbs, little end first, with a
``neg`` field):

``fc_parse(s)``   decimal text (optional leading ``-``) -> number
``fc_str(a)``     number -> decimal text (no leading zeros, ``-`` when negative)
``fc_cmp(a, b)``  -1, 0 or 1
``fc_add(a, b)``, ``fc_sub(a, b)``, ``fc_mul(a, b)``, ``fc_neg(a)``
``fc_approx(a)``  the nearest double (for TTLs and counts only, never for decisions)
``fc_time_ns()``  the server's ``TIME`` as nanoseconds since the Unix epoch (a number)
``fc_zero``       the number 0
"""

from __future__ import annotations

from typing import Final

__all__ = ["BIGINT_LUA"]

BIGINT_LUA: Final = r"""
local FC_B = 10000000
local function fc_trim(t, neg)
  local n = #t
  while n > 1 and t[n] == 0 do t[n] = nil; n = n - 1 end
  if n == 0 then t[1] = 0; n = 1 end
  t.neg = neg and not (n == 1 and t[1] == 0)
  return t
end
local function fc_parse(s)
  local neg = false
  if string.byte(s, 1) == 45 then neg = true; s = string.sub(s, 2) end
  local t, i, k = {}, #s, 1
  while i > 0 do
    local j = i - 6
    if j < 1 then j = 1 end
    t[k] = tonumber(string.sub(s, j, i))
    k = k + 1
    i = j - 1
  end
  return fc_trim(t, neg)
end
local fc_zero = fc_parse('0')
local function fc_str(a)
  local parts = {string.format('%d', a[#a])}
  for i = #a - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', a[i]) end
  local s = table.concat(parts)
  if a.neg then return '-' .. s end
  return s
end
local function fc_mcmp(a, b)
  if #a ~= #b then
    if #a < #b then return -1 end
    return 1
  end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then
      if a[i] < b[i] then return -1 end
      return 1
    end
  end
  return 0
end
local function fc_cmp(a, b)
  if a.neg ~= b.neg then
    if a.neg then return -1 end
    return 1
  end
  if a.neg then return fc_mcmp(b, a) end
  return fc_mcmp(a, b)
end
local function fc_madd(a, b)
  local t, carry = {}, 0
  local n = #a
  if #b > n then n = #b end
  for i = 1, n do
    local s = (a[i] or 0) + (b[i] or 0) + carry
    if s >= FC_B then t[i] = s - FC_B; carry = 1 else t[i] = s; carry = 0 end
  end
  if carry > 0 then t[n + 1] = carry end
  return t
end
local function fc_msub(a, b)
  local t, borrow = {}, 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then t[i] = s + FC_B; borrow = 1 else t[i] = s; borrow = 0 end
  end
  return t
end
local function fc_add(a, b)
  if a.neg == b.neg then return fc_trim(fc_madd(a, b), a.neg) end
  local c = fc_mcmp(a, b)
  if c == 0 then return fc_trim({0}, false) end
  if c > 0 then return fc_trim(fc_msub(a, b), a.neg) end
  return fc_trim(fc_msub(b, a), b.neg)
end
local function fc_neg(a)
  local t = {}
  for i = 1, #a do t[i] = a[i] end
  return fc_trim(t, not a.neg)
end
local function fc_sub(a, b) return fc_add(a, fc_neg(b)) end
local function fc_mul(a, b)
  local t = {}
  for i = 1, #a + #b do t[i] = 0 end
  for i = 1, #a do
    local carry, ai = 0, a[i]
    for j = 1, #b do
      local cur = t[i + j - 1] + ai * b[j] + carry
      carry = math.floor(cur / FC_B)
      t[i + j - 1] = cur - carry * FC_B
    end
    local k = i + #b
    while carry > 0 do
      local cur = t[k] + carry
      carry = math.floor(cur / FC_B)
      t[k] = cur - carry * FC_B
      k = k + 1
    end
  end
  return fc_trim(t, a.neg ~= b.neg)
end
local function fc_approx(a)
  local x = 0
  for i = #a, 1, -1 do x = x * FC_B + a[i] end
  if a.neg then return -x end
  return x
end
local function fc_time_ns()
  local t = redis.call('TIME')
  local us = t[2]
  return fc_parse(t[1] .. string.rep('0', 6 - #us) .. us .. '000')
end
"""
