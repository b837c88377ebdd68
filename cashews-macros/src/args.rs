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
