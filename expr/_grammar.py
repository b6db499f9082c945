'''The Lark LALR grammar of the CEL subset (cel-spec langdef, plus backtick selectors).

Promise: a single string constant, ``GRAMMAR``, accepted by ``lark.Lark(..., parser="lalr")``
without conflicts. Operator precedence is encoded in the rule layering:
``?:`` < ``||`` < ``&&`` < relations (incl. ``in``) < ``+ -`` < ``* / %`` < unary < member.
Numbers are one terminal (``NUM``) that may carry a leading ``-`` so that int64 min is a literal;
the contextual lexer only offers it where an operand may start, so ``a-1`` is still a subtraction.
'''

from __future__ import annotations

__all__ = ["GRAMMAR"]

_NUM = (
    r"-?(?:0[xX][0-9a-fA-F]+[uU]?|[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?"
    r"|[0-9]+[eE][+-]?[0-9]+|[0-9]+[uU]?)"
)
_STRING = (
    r"""[bB]?(?:[rR](?:"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\r\n]*"|'[^'\r\n]*')"""
    r"""|"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"|'''(?:\\[\s\S]|[^\\])*?'''"""
    r"""|"(?:\\.|[^"\\\r\n])*"|'(?:\\.|[^'\\\r\n])*')"""
)

GRAMMAR = r"""
start: expr

?expr: or_expr
     | or_expr QMARK or_expr ":" expr        -> cond

?or_expr: and_expr
        | or_expr OROR and_expr                -> or_

?and_expr: relation
         | and_expr ANDAND relation            -> and_

?relation: addition
         | relation RELOP addition            -> binary
         | relation IN addition               -> binary

?addition: multiplication
         | addition PLUS multiplication       -> binary
         | addition MINUS multiplication      -> binary

?multiplication: unary
               | multiplication MULOP unary   -> binary

?unary: member
      | BANG unary                            -> not_
      | MINUS unary                           -> neg

?member: primary
       | member DOT IDENT                     -> select
       | member DOT QIDENT                    -> select
       | member DOT IDENT LPAR args? ")"      -> method
       | member LBRACK expr "]"               -> index

?primary: IDENT                               -> ident
        | DOT IDENT                           -> root_ident
        | IDENT LPAR args? ")"                 -> call
        | DOT IDENT LPAR args? ")"             -> root_call
        | "(" expr ")"
        | LBRACK "]"                          -> list_lit
        | LBRACK args "]"                     -> list_lit
        | LBRACK args "," "]"                 -> list_lit
        | LBRACE "}"                          -> map_lit
        | LBRACE map_inits "}"                -> map_lit
        | LBRACE map_inits "," "}"            -> map_lit
        | NUM                                 -> num
        | STRING                              -> string
        | TRUE                                -> true_
        | FALSE                               -> false_
        | NULL                                -> null

args: expr
    | args "," expr
map_inits: expr ":" expr
         | map_inits "," expr ":" expr

TRUE: "true"
FALSE: "false"
NULL: "null"
IN: "in"
BANG: "!"
MINUS: "-"
PLUS: "+"
DOT: "."
LPAR: "("
QMARK: "?"
OROR: "||"
ANDAND: "&&"
LBRACK: "["
LBRACE: "{"
RELOP: "<=" | ">=" | "==" | "!=" | "<" | ">"
MULOP: "*" | "/" | "%"

IDENT: /[_a-zA-Z][_a-zA-Z0-9]*/
QIDENT: /`[_a-zA-Z0-9.\-\/ ]+`/

NUM.2: /{num}/
STRING.3: /{string}/

%ignore /[\t\n\f\r ]+/
%ignore /\/\/[^\n]*/
""".replace("{num}", _NUM).replace("{string}", _STRING)
