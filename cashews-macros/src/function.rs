//! The decorated function: its parameters, its return type, and the one
//! rewrite every attribute makes (the body moved into the strategy call).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

/// Runs an attribute's expansion. On error, the function is emitted
/// unchanged next to the error, so that its callers do not pile up errors
/// of their own.
pub(crate) fn expand(
    attribute: &str,
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
    expand: fn(TokenStream, ItemFn) -> syn::Result<TokenStream>,
) -> proc_macro::TokenStream {
    let item2 = TokenStream::from(item.clone());
    let func = match syn::parse2::<ItemFn>(item2.clone()) {
        Ok(func) => func,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item2);
            return out.into();
        }
    };
    let name = func.sig.ident.to_string();
    let out = match check_async(attribute, &func).and_then(|()| expand(attr.into(), func)) {
        Ok(out) => out,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item2);
            out
        }
    };
    dump(attribute, &name, &out);
    out.into()
}

fn check_async(attribute: &str, func: &ItemFn) -> syn::Result<()> {
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            func.sig.fn_token,
            format!("#[cashews::{attribute}] goes on an `async fn`; this function is not async"),
        ));
    }
    Ok(())
}

/// `CASHEWS_MACRO_DEBUG=1` prints every expansion, `=name` those of the
/// functions called `name`.
fn dump(attribute: &str, name: &str, out: &TokenStream) {
    if let Ok(wanted) = std::env::var("CASHEWS_MACRO_DEBUG")
        && (wanted == "1" || wanted == name)
    {
        eprintln!("#[cashews::{attribute}] on `{name}` expands to:\n{out}\n");
    }
}

/// A parameter of the decorated function.
pub(crate) struct Param {
    /// Its name; `None` for a pattern (`(a, b): (u8, u8)`, `_`).
    pub(crate) name: Option<syn::Ident>,
    pub(crate) receiver: bool,
    /// Where to point errors about it.
    pub(crate) span: Span,
}

pub(crate) fn params(func: &ItemFn) -> Vec<Param> {
    func.sig
        .inputs
        .iter()
        .map(|input| match input {
            FnArg::Receiver(r) => Param {
                name: Some(syn::Ident::new("self", r.self_token.span)),
                receiver: true,
                span: r.span(),
            },
            FnArg::Typed(t) => Param {
                name: match &*t.pat {
                    Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.clone()),
                    _ => None,
                },
                receiver: false,
                span: t.pat.span(),
            },
        })
        .collect()
}

/// The declared return type, `()` when there is none.
pub(crate) fn return_type(func: &ItemFn) -> syn::Result<TokenStream> {
    match &func.sig.output {
        ReturnType::Default => Ok(quote!(())),
        ReturnType::Type(_, ty) => {
            if let Type::ImplTrait(_) = &**ty {
                return Err(syn::Error::new_spanned(
                    ty,
                    "a decorated function must name its return type, not `impl Trait`",
                ));
            }
            Ok(ty.to_token_stream())
        }
    }
}

/// `let mode = …;`: the `Outcome` marker of the return type held by
/// `returns` (a `__private::Returns`), chosen by autoref specialisation:
/// `StoreOk` for a `Result`, else `StoreAll`. `p` is the path of
/// `__private`.
pub(crate) fn mode_statement(p: &TokenStream, mode: &Ident, returns: &Ident) -> TokenStream {
    quote! {
        let #mode = {
            #[allow(unused_imports)]
            use #p::{ReturnsResult as _, ReturnsValue as _};
            (&&#returns).mode()
        };
    }
}

/// The path generated code uses for the cashews crate: `crate = "…"`, or
/// `::cashews`.
pub(crate) fn crate_path(option: Option<&syn::LitStr>) -> syn::Result<TokenStream> {
    match option {
        None => Ok(quote!(::cashews)),
        Some(lit) => {
            let path: syn::Path = lit.parse().map_err(|_| {
                syn::Error::new_spanned(
                    lit,
                    "`crate` takes the path of cashews, like \"my_cashews\"",
                )
            })?;
            // A plain name is a crate name: anchor it, as `::name`, so a
            // local item of the same name cannot capture it.
            if path.leading_colon.is_none() && path.segments.len() == 1 {
                Ok(quote!(:: #path))
            } else {
                Ok(path.to_token_stream())
            }
        }
    }
}

/// `tokens` with every span set to `span`, so that an error the compiler
/// finds in generated code points at the user's token it came from.
pub(crate) fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(g) = &tree {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tree = group.into();
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The function with its body replaced by `body`.
pub(crate) fn with_body(func: &ItemFn, body: TokenStream) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = func;
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
