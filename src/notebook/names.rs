//! Which module-level names a top-level statement binds and reads.
//!
//! A small scope analysis, enough to find hidden notebook state (a name no kept cell defines)
//! and to decide what can move out of `main()`. Python decides a function's locals statically,
//! so a function's reads are resolved when its body has been walked; reads that reach module
//! scope from inside a function or lambda are *deferred* (they happen at call time), reads from
//! comprehensions and class bodies happen at once.

use std::collections::BTreeSet;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Pattern, Stmt};
use ruff_text_size::{Ranged, TextRange};

/// A name read, with where.
#[derive(Debug, Clone, PartialEq)]
pub struct NameUse {
    pub name: String,
    pub range: TextRange,
}

/// Code that is only legal inside a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misplaced {
    Await,
    Return,
    Yield,
}

/// What one top-level statement does to module scope.
#[derive(Debug, Default, Clone)]
pub struct StatementNames {
    /// Names bound at module scope, including through `global` inside functions; sorted,
    /// without repeats. (A vector: one set per statement costs a tree node each.)
    pub binds: Vec<String>,
    /// Module-level reads that happen when the statement runs.
    pub reads: Vec<NameUse>,
    /// Module-level reads that happen when a function defined here is called.
    pub deferred: Vec<NameUse>,
    pub star_import: bool,
    /// `global` or `nonlocal` written at module level.
    pub module_global: bool,
    pub misplaced: Vec<(Misplaced, TextRange)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ScopeKind {
    Function { is_async: bool },
    Lambda,
    Class,
    Comprehension,
}

#[derive(Debug)]
struct Scope {
    kind: ScopeKind,
    locals: BTreeSet<String>,
    globals: BTreeSet<String>,
    /// Reads not yet resolved, with whether they are deferred.
    reads: Vec<(NameUse, bool)>,
}

/// Analyses one top-level statement.
pub fn statement_names(stmt: &Stmt) -> StatementNames {
    let mut walker = Walker::default();
    walker.visit_stmt(stmt);
    let mut names = walker.result;
    // Python binds before the statement's later reads only in order, but within one statement
    // the analysis is flow-insensitive: `for i in x: print(i)` reads `i` after binding it.
    names
        .reads
        .retain(|read| !walker.binds.contains(&read.name));
    names.binds = walker.binds.into_iter().collect();
    names
}

#[derive(Default)]
struct Walker {
    scopes: Vec<Scope>,
    /// Module-level bindings, moved to `result` at the end.
    binds: BTreeSet<String>,
    result: StatementNames,
}

impl Walker {
    fn bind(&mut self, name: &str) {
        let index = self.scopes.len().checked_sub(1);
        self.bind_in(index, name);
    }

    /// Binds in scope `index` (`None` is module scope).
    fn bind_in(&mut self, index: Option<usize>, name: &str) {
        match index {
            Some(index) if self.scopes[index].globals.contains(name) => {
                self.binds.insert(name.to_string());
            }
            Some(index) => {
                self.scopes[index].locals.insert(name.to_string());
            }
            None => {
                self.binds.insert(name.to_string());
            }
        }
    }

    fn read(&mut self, name: &str, range: TextRange) {
        let name_use = NameUse {
            name: name.to_string(),
            range,
        };
        match self.scopes.last_mut() {
            Some(scope) => scope.reads.push((name_use, false)),
            None => self.result.reads.push(name_use),
        }
    }

    fn push(&mut self, kind: ScopeKind) {
        self.scopes.push(Scope {
            kind,
            locals: BTreeSet::new(),
            globals: BTreeSet::new(),
            reads: Vec::new(),
        });
    }

    /// Resolves a finished scope's reads and hands the rest outwards.
    fn pop(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        let defers = matches!(scope.kind, ScopeKind::Function { .. } | ScopeKind::Lambda);
        for (name_use, deferred) in scope.reads {
            let is_local =
                scope.locals.contains(&name_use.name) && !scope.globals.contains(&name_use.name);
            if is_local {
                continue;
            }
            let deferred = deferred || defers;
            match self.scopes.last_mut() {
                Some(parent) => parent.reads.push((name_use, deferred)),
                None if deferred => self.result.deferred.push(name_use),
                None => self.result.reads.push(name_use),
            }
        }
    }

    fn in_function(&self) -> Option<bool> {
        self.scopes.iter().rev().find_map(|scope| match scope.kind {
            ScopeKind::Function { is_async } => Some(is_async),
            ScopeKind::Lambda => Some(false),
            _ => None,
        })
    }

    fn misplaced(&mut self, kind: Misplaced, range: TextRange) {
        let allowed = match kind {
            Misplaced::Await => self.in_function() == Some(true),
            Misplaced::Return | Misplaced::Yield => self.in_function().is_some(),
        };
        if !allowed {
            self.result.misplaced.push((kind, range));
        }
    }

    fn bind_parameters(&mut self, parameters: &ast::Parameters) {
        for parameter in parameters.iter() {
            let name = parameter.as_parameter().name.as_str().to_string();
            self.bind(&name);
        }
    }

    fn visit_parameter_expressions(&mut self, parameters: &'_ ast::Parameters) {
        for default in parameters
            .iter_non_variadic_params()
            .filter_map(|parameter| parameter.default.as_deref())
        {
            self.visit_expr(default);
        }
        for parameter in parameters.iter() {
            if let Some(annotation) = parameter.as_parameter().annotation.as_deref() {
                self.visit_expr(annotation);
            }
        }
    }

    fn visit_function(&mut self, function: &ast::StmtFunctionDef) {
        for decorator in &function.decorator_list {
            self.visit_expr(&decorator.expression);
        }
        self.visit_parameter_expressions(&function.parameters);
        if let Some(returns) = function.returns.as_deref() {
            self.visit_expr(returns);
        }
        self.bind(function.name.as_str());
        self.push(ScopeKind::Function {
            is_async: function.is_async,
        });
        self.bind_parameters(&function.parameters);
        self.visit_body(&function.body);
        self.pop();
    }

    fn visit_class(&mut self, class: &ast::StmtClassDef) {
        for decorator in &class.decorator_list {
            self.visit_expr(&decorator.expression);
        }
        if let Some(arguments) = class.arguments.as_deref() {
            self.visit_arguments(arguments);
        }
        self.push(ScopeKind::Class);
        self.visit_body(&class.body);
        self.pop();
        self.bind(class.name.as_str());
    }

    fn visit_import(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    let bound = match &alias.asname {
                        Some(asname) => asname.as_str(),
                        None => alias.name.as_str().split('.').next().unwrap_or_default(),
                    };
                    self.bind(bound);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    if alias.name.as_str() == "*" {
                        self.result.star_import = true;
                        continue;
                    }
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name);
                    self.bind(bound.as_str());
                }
            }
            _ => {}
        }
    }

    fn declare(&mut self, names: &[ast::Identifier], global: bool) {
        match self.scopes.last_mut() {
            Some(scope) if global => {
                scope
                    .globals
                    .extend(names.iter().map(|name| name.to_string()));
            }
            Some(_) => {}
            None => self.result.module_global = true,
        }
    }

    fn visit_comprehension_expr(&mut self, generators: &[ast::Comprehension], elts: &[&Expr]) {
        self.push(ScopeKind::Comprehension);
        for generator in generators {
            if generator.is_async {
                self.misplaced(Misplaced::Await, generator.range);
            }
            self.visit_comprehension(generator);
        }
        for elt in elts {
            self.visit_expr(elt);
        }
        self.pop();
    }
}

impl<'a> Visitor<'a> for Walker {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => self.visit_function(function),
            Stmt::ClassDef(class) => self.visit_class(class),
            Stmt::Import(_) | Stmt::ImportFrom(_) => self.visit_import(stmt),
            Stmt::Global(global) => self.declare(&global.names, true),
            Stmt::Nonlocal(nonlocal) => self.declare(&nonlocal.names, false),
            Stmt::Return(_) => {
                self.misplaced(Misplaced::Return, stmt.range());
                visitor::walk_stmt(self, stmt);
            }
            Stmt::For(for_stmt) if for_stmt.is_async => {
                self.misplaced(Misplaced::Await, stmt.range());
                visitor::walk_stmt(self, stmt);
            }
            Stmt::With(with) if with.is_async => {
                self.misplaced(Misplaced::Await, stmt.range());
                visitor::walk_stmt(self, stmt);
            }
            Stmt::AugAssign(assign) => {
                if let Expr::Name(name) = assign.target.as_ref() {
                    self.read(name.id.as_str(), name.range);
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => match name.ctx {
                ExprContext::Load | ExprContext::Del => self.read(name.id.as_str(), name.range),
                ExprContext::Store => self.bind(name.id.as_str()),
                ExprContext::Invalid => {}
            },
            Expr::Named(named) => {
                self.visit_expr(&named.value);
                if let Expr::Name(name) = named.target.as_ref() {
                    let index = self
                        .scopes
                        .iter()
                        .rposition(|scope| scope.kind != ScopeKind::Comprehension);
                    self.bind_in(index, name.id.as_str());
                }
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = lambda.parameters.as_deref() {
                    self.visit_parameter_expressions(parameters);
                }
                self.push(ScopeKind::Lambda);
                if let Some(parameters) = lambda.parameters.as_deref() {
                    self.bind_parameters(parameters);
                }
                self.visit_expr(&lambda.body);
                self.pop();
            }
            Expr::ListComp(comp) => self.visit_comprehension_expr(&comp.generators, &[&comp.elt]),
            Expr::SetComp(comp) => self.visit_comprehension_expr(&comp.generators, &[&comp.elt]),
            Expr::Generator(comp) => self.visit_comprehension_expr(&comp.generators, &[&comp.elt]),
            Expr::DictComp(comp) => {
                let elts: Vec<&Expr> = comp
                    .key
                    .as_deref()
                    .into_iter()
                    .chain([comp.value.as_ref()])
                    .collect();
                self.visit_comprehension_expr(&comp.generators, &elts)
            }
            Expr::Await(_) => {
                self.misplaced(Misplaced::Await, expr.range());
                visitor::walk_expr(self, expr);
            }
            Expr::Yield(_) | Expr::YieldFrom(_) => {
                self.misplaced(Misplaced::Yield, expr.range());
                visitor::walk_expr(self, expr);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.visit_expr(&comprehension.iter);
        self.visit_expr(&comprehension.target);
        for condition in &comprehension.ifs {
            self.visit_expr(condition);
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(handler_node) = handler;
        if let Some(name) = &handler_node.name {
            self.bind(name.as_str());
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        let bound = match pattern {
            Pattern::MatchAs(node) => node.name.as_ref(),
            Pattern::MatchStar(node) => node.name.as_ref(),
            Pattern::MatchMapping(node) => node.rest.as_ref(),
            _ => None,
        };
        if let Some(name) = bound {
            self.bind(name.as_str());
        }
        visitor::walk_pattern(self, pattern);
    }
}

/// Builtins of Python 3.11 (`dir(builtins)`), plus module attributes every module has.
pub const BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__builtins__",
    "__debug__",
    "__doc__",
    "__file__",
    "__import__",
    "__loader__",
    "__name__",
    "__package__",
    "__spec__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notebook::python::PreparedCell;

    fn names(source: &str) -> StatementNames {
        let cell = PreparedCell::new(source);
        statement_names(&cell.parsed.syntax().body[0])
    }

    fn read_names(uses: &[NameUse]) -> Vec<&str> {
        uses.iter().map(|read| read.name.as_str()).collect()
    }

    #[test]
    fn builtins_are_sorted_for_binary_search() {
        assert!(BUILTINS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(is_builtin("print") && !is_builtin("display"));
    }

    #[test]
    fn function_reads_are_deferred_and_locals_resolved() {
        let found = names("def f(a, b=c):\n    x = a + y\n    return [x for z in w]\n");
        assert_eq!(found.binds, ["f"]);
        assert_eq!(read_names(&found.reads), ["c"]);
        assert_eq!(read_names(&found.deferred), ["y", "w"]);
    }

    #[test]
    fn for_loop_binds_before_its_body_reads() {
        let found = names("for i in range(3):\n    print(i, j)\n");
        assert_eq!(read_names(&found.reads), ["range", "print", "j"]);
    }

    #[test]
    fn global_inside_function_binds_module_name() {
        let found = names("def f():\n    global g\n    g = 1\n");
        assert!(found.binds.iter().any(|name| name == "g"));
    }

    #[test]
    fn comprehension_variables_stay_inside() {
        let found = names("xs = [i * k for i in range(3)]\n");
        assert_eq!(read_names(&found.reads), ["range", "k"]);
        assert_eq!(found.binds, ["xs"]);
    }

    #[test]
    fn top_level_await_and_return_are_misplaced() {
        assert_eq!(names("await f()\n").misplaced[0].0, Misplaced::Await);
        assert!(
            names("async def f():\n    await g()\n")
                .misplaced
                .is_empty()
        );
        assert_eq!(names("async for x in y:\n    pass\n").misplaced.len(), 1);
    }

    #[test]
    fn imports_bind_their_first_segment() {
        let found = names("import os.path, numpy as np\n");
        let binds: Vec<_> = found.binds.iter().map(String::as_str).collect();
        assert_eq!(binds, ["np", "os"]);
        assert!(names("from x import *\n").star_import);
    }
}
