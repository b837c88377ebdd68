//! The companion every caching attribute puts next to its function:
//! `<name>_cache_key`, the function's cache and the key of a call, each
//! argument a `KeyPart` (a value, or any value: then the key is a
//! pattern). `#[cashews::invalidate]` calls it; so can anyone.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Expr, FnArg, Ident, ItemFn};

use crate::function::Param;
use crate::template::{self, Key, Parts};

/// The companion's name for the function `name`.
pub(crate) fn name(name: &Ident) -> Ident {
    format_ident!("{}_cache_key", name.unraw(), span = name.span())
}

/// What the companion of a caching attribute needs to know.
pub(crate) struct Companion<'a> {
    /// The path of the cashews crate.
    pub(crate) krate: &'a TokenStream,
    pub(crate) func: &'a ItemFn,
    pub(crate) params: &'a [Param],
    /// The `cache` option, if given.
    pub(crate) cache: Option<&'a Expr>,
    pub(crate) prefix: Option<&'a str>,
    pub(crate) key: &'a Key,
    /// Whether to define the companion (`companion = false`: not).
    pub(crate) emit: bool,
}

impl Companion<'_> {
    /// The decorated function with its body replaced by `body`, followed by
    /// its companion unless `emit` is off.
    pub(crate) fn function_and_companion(&self, body: TokenStream) -> TokenStream {
        let func = crate::function::with_body(self.func, body);
        if !self.emit {
            return func;
        }
        let companion = self.expand();
        quote!(#func #companion)
    }

    /// The companion function.
    ///
    /// A parameter that the `cache` expression reads is a `KeyPart` whose
    /// wildcard type has no values: it is always given, as the cache
    /// cannot be chosen otherwise.
    fn expand(&self) -> TokenStream {
        let krate = self.krate;
        let func = self.func;
        let key_part = quote!(#krate::KeyPart);
        let chooses_cache: Vec<bool> = self
            .params
            .iter()
            .map(|p| {
                !p.receiver
                    && p.name
                        .as_ref()
                        .zip(self.cache)
                        .is_some_and(|(name, cache)| mentions(quote!(#cache), name))
            })
            .collect();
        let open: Vec<bool> = self
            .params
            .iter()
            .zip(&chooses_cache)
            .map(|(p, chooses)| !p.receiver && !chooses)
            .collect();

        let mut inputs = Vec::new();
        let mut given = TokenStream::new();
        for (i, (input, chooses)) in func.sig.inputs.iter().zip(&chooses_cache).enumerate() {
            match input {
                FnArg::Receiver(r) => {
                    let self_token = r.self_token;
                    inputs.push(quote!(&#self_token));
                }
                FnArg::Typed(t) => {
                    let ty = &t.ty;
                    let name = self
                        .params
                        .get(i)
                        .and_then(|p| p.name.clone())
                        .unwrap_or_else(|| {
                            format_ident!("__cashews_arg_{i}", span = Span::mixed_site())
                        });
                    if *chooses {
                        inputs.push(quote!(#name: #key_part<#ty, #krate::key::ChoosesCache>));
                        given.extend(quote! {
                            let #name = match #name {
                                #key_part::Value(value) => value,
                                #key_part::Wildcard(never) => match never {},
                            };
                        });
                    } else {
                        inputs.push(quote!(#name: #key_part<#ty>));
                    }
                }
            }
        }

        let w = Ident::new("__cashews_key", Span::mixed_site());
        let buf = Ident::new("__cashews_key_buf", Span::mixed_site());
        let cache = Ident::new("__cashews_cache", Span::mixed_site());
        let parts = Parts {
            key_part: &key_part,
            open: &open,
        };
        let (key, capacity) = self.key.write(&w, self.params, Some(&parts));
        let (write, capacity) = template::with_prefix(&w, self.prefix, key, capacity);
        let cache_expr = match self.cache {
            Some(e) => quote!(#e),
            None => quote!(#krate::global()),
        };

        let vis = &func.vis;
        let companion = name(&func.sig.ident);
        let (generics, where_clause) = (&func.sig.generics, &func.sig.generics.where_clause);
        let attrs = func
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("allow"));
        let doc = format!(
            " The cache of `{}` and the key of its call with these arguments \
             (a pattern where an argument is `KeyPart::ANY`): see `#[cashews::cache]`.",
            func.sig.ident.unraw()
        );
        quote_spanned! {func.sig.ident.span()=>
            #[doc = #doc]
            #(#attrs)*
            #[allow(dead_code, unused_variables, clippy::extra_unused_type_parameters)]
            #vis fn #companion #generics (#(#inputs),*) -> #krate::strategy::invalidate::Invalidation
            #where_clause
            {
                #given
                let #cache: &#krate::Cache = &(#cache_expr);
                let mut #buf = #krate::__private::KeyBuf::with_capacity(#capacity);
                {
                    let mut #w = #krate::__private::KeyWriter::pattern(&mut #buf);
                    #write
                }
                #krate::strategy::invalidate::Invalidation::new(#cache, #buf.into_string())
            }
        }
    }
}

/// Whether `tokens` use the variable `name`: the identifier, not after a
/// `.` (a field or method of the same name) or a `::` (a path's segment).
fn mentions(tokens: TokenStream, name: &Ident) -> bool {
    let mut after_path_or_field = false;
    for tree in tokens {
        match &tree {
            TokenTree::Ident(ident) if ident == name && !after_path_or_field => return true,
            TokenTree::Group(group) if mentions(group.stream(), name) => return true,
            _ => {}
        }
        after_path_or_field =
            matches!(&tree, TokenTree::Punct(p) if p.as_char() == '.' || p.as_char() == ':');
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_is_mentioned_where_it_is_not_a_field_or_path() {
        let name = Ident::new("cache", Span::call_site());
        for (tokens, expected) in [
            (quote!(cache), true),
            (quote!(&cache), true),
            (quote!(if flag { cache } else { other }), true),
            (quote!(make(cache.clone())), true),
            (quote!(self.cache), false),
            (quote!(cashews::cache), false),
            (quote!(CACHE), false),
            (quote!(cache_of(x)), false),
        ] {
            assert_eq!(mentions(tokens.clone(), &name), expected, "{tokens}");
        }
    }
}
