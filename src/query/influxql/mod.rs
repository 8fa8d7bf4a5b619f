//! InfluxQL: lexer, syntax tree and parser.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use ast::*;
pub use parser::{parse_expr, parse_query, ParseError};
