//! The attribute's arguments: `name = expr` options and bare targets.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitBool, LitStr, Token};

pub(crate) enum Arg {
    /// `name = value` (`crate = …` included).
    Named { name: Ident, value: Expr },
    /// Anything else: an invalidation target.
    Bare(Expr),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let fork = input.fork();
        if fork.call(Ident::parse_any).is_ok() && fork.peek(Token![=]) && !fork.peek(Token![==]) {
            let name = input.call(Ident::parse_any)?;
            input.parse::<Token![=]>()?;
            let value = input.parse()?;
            return Ok(Self::Named { name, value });
        }
        input.parse().map(Self::Bare)
    }
}

pub(crate) fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Vec<Arg>> {
    let list = syn::parse::Parser::parse2(Punctuated::<Arg, Token![,]>::parse_terminated, tokens)?;
    Ok(list.into_iter().collect())
}

/// The options every caching attribute takes: `key`, `prefix`, `cache`,
/// `companion` and `crate`.
#[derive(Default)]
pub(crate) struct Common {
    pub(crate) key: Option<LitStr>,
    pub(crate) prefix: Option<LitStr>,
    pub(crate) cache: Option<Expr>,
    /// `companion = false`: no `<name>_cache_key` (a trait impl holds only
    /// the trait's items).
    pub(crate) companion: Option<LitBool>,
    pub(crate) krate: Option<LitStr>,
}

impl Common {
    /// The names, for error messages.
    pub(crate) const NAMES: [&'static str; 5] = ["key", "prefix", "cache", "companion", "crate"];

    /// Takes `name = value` if it is one of these options; hands it back
    /// otherwise.
    pub(crate) fn take(&mut self, name: Ident, value: Expr) -> syn::Result<Option<(Ident, Expr)>> {
        match name.to_string().as_str() {
            "key" => {
                let lit = lit_str(&name, value, "a key template like \"user:{id}\"")?;
                once(&mut self.key, &name, lit)?;
            }
            "prefix" => {
                let lit = lit_str(&name, value, "the text put before the key")?;
                once(&mut self.prefix, &name, lit)?;
            }
            "cache" => once(&mut self.cache, &name, value)?,
            "companion" => {
                let lit = lit_bool(&name, value)?;
                once(&mut self.companion, &name, lit)?;
            }
            "crate" => {
                let lit = lit_str(&name, value, "the path of cashews, like \"my_cashews\"")?;
                once(&mut self.krate, &name, lit)?;
            }
            _ => return Ok(Some((name, value))),
        }
        Ok(None)
    }

    /// Whether the attribute defines the companion (`companion`, default true).
    pub(crate) fn companion(&self) -> bool {
        self.companion.as_ref().is_none_or(LitBool::value)
    }
}

/// Sets an option once; a second one is an error at its name.
pub(crate) fn once<T>(slot: &mut Option<T>, name: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new_spanned(
            name,
            format!("`{name}` is given twice"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

pub(crate) fn lit_str(name: &Ident, value: Expr, what: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{name}` takes a string literal: {what}"),
        )),
    }
}

pub(crate) fn lit_bool(name: &Ident, value: Expr) -> syn::Result<LitBool> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{name}` takes `true` or `false`"),
        )),
    }
}
