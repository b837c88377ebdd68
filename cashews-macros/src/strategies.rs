//! The attributes of the strategies beyond the plain cache: failover, hit,
//! perf, locked, early, soft, rate_limit, slice_rate_limit,
//! circuit_breaker and tagged. Each builds the key as `#[cashews::cache]` does (the
//! same templates, prefix and default key, so `#[cashews::invalidate]`
//! targets them too) and emits one call of its function in
//! `cashews::strategy`, with the options given as the builder calls of its
//! options type, and returns the reported value.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Ident, ItemFn, Lit};

use crate::args::{self, Arg};
use crate::cache::ident;
use crate::companion::Companion;
use crate::function;
use crate::template::{self, Key, Template};

/// One strategy attribute.
#[derive(Clone, Copy)]
pub(crate) enum Strategy {
    Failover,
    Hit,
    Perf,
    Locked,
    Early,
    Soft,
    RateLimit,
    SliceRateLimit,
    CircuitBreaker,
    Tagged,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Hit => "hit",
            Self::Perf => "perf",
            Self::Locked => "locked",
            Self::Early => "early",
            Self::Soft => "soft",
            Self::RateLimit => "rate_limit",
            Self::SliceRateLimit => "slice_rate_limit",
            Self::CircuitBreaker => "circuit_breaker",
            Self::Tagged => "tagged",
        }
    }

    /// Its own options (besides `key`, `prefix`, `cache`, `crate`), the
    /// required ones first.
    fn options(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Failover => (&["ttl"], &["when"]),
            Self::Hit => (&["ttl", "cache_hits"], &["update_after"]),
            Self::Perf => (&["ttl"], &["trace_size", "perf_condition"]),
            Self::Locked => (&["ttl"], &["lock_ttl", "wait", "step"]),
            Self::Early => (&["ttl"], &["early_ttl", "lock_ttl", "xfetch"]),
            Self::Soft => (&["ttl", "soft_ttl"], &["when"]),
            Self::RateLimit => (&["limit", "period"], &["ttl", "action"]),
            Self::SliceRateLimit => (&["limit", "period"], &["action"]),
            Self::CircuitBreaker => (
                &["errors_rate", "period", "ttl"],
                &["min_calls", "half_open_ttl", "half_open_percent", "failure"],
            ),
            Self::Tagged => (&["ttl", "tags"], &[]),
        }
    }

    /// Options holding a duration: a literal `"1h30m"` (checked when
    /// compiling), seconds, or a `Duration` expression.
    fn is_duration(option: &str) -> bool {
        matches!(
            option,
            "ttl"
                | "lock_ttl"
                | "wait"
                | "step"
                | "early_ttl"
                | "soft_ttl"
                | "period"
                | "half_open_ttl"
        )
    }
}

struct Options {
    common: args::Common,
    values: BTreeMap<String, (Ident, Expr)>,
}

impl Options {
    fn get(&self, name: &str) -> Option<&Expr> {
        self.values.get(name).map(|(_, e)| e)
    }
}

fn parse(strategy: Strategy, attr: TokenStream) -> syn::Result<Options> {
    let (required, optional) = strategy.options();
    let accepted = || {
        let mut all: Vec<&str> = required.iter().chain(optional).copied().collect();
        all.extend(args::Common::NAMES);
        all.join(", ")
    };
    let mut o = Options {
        common: args::Common::default(),
        values: BTreeMap::new(),
    };
    for arg in args::parse(attr)? {
        let (name, value) = match arg {
            Arg::Named { name, value } => (name, value),
            Arg::Bare(e) => {
                return Err(syn::Error::new_spanned(
                    e,
                    format!("expected `option = value`; options: {}", accepted()),
                ));
            }
        };
        let Some((name, value)) = o.common.take(name, value)? else {
            continue;
        };
        let text = name.to_string();
        match text.as_str() {
            other if required.contains(&other) || optional.contains(&other) => {
                if o.values.contains_key(other) {
                    return Err(syn::Error::new_spanned(
                        &name,
                        format!("`{name}` is given twice"),
                    ));
                }
                o.values.insert(text, (name, value));
            }
            other => {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!(
                        "unknown option `{other}` of #[cashews::{}]; options: {}",
                        strategy.name(),
                        accepted()
                    ),
                ));
            }
        }
    }
    if let Some(missing) = required.iter().find(|r| !o.values.contains_key(**r)) {
        return Err(syn::Error::new(
            Span::call_site(),
            format!(
                "#[cashews::{}] needs `{missing}` (required: {})",
                strategy.name(),
                required.join(", ")
            ),
        ));
    }
    Ok(o)
}

/// A duration option as an expression of type `Duration`; a literal is
/// checked when compiling.
fn duration(krate: &TokenStream, expr: &Expr) -> syn::Result<TokenStream> {
    Ok(match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            // A constant, so a malformed literal fails the build, pointing at it.
            let span = s.span();
            let krate = function::respan(krate, span);
            quote_spanned! {span=> {
                const DURATION: ::core::time::Duration = #krate::__private::ttl(#s);
                DURATION
            }}
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            let secs: u64 = i.base10_parse()?;
            quote!(::core::time::Duration::from_secs(#secs))
        }
        other => quote!(#other),
    })
}

/// The value of option `name` (durations converted).
fn value(krate: &TokenStream, options: &Options, name: &str) -> syn::Result<Option<TokenStream>> {
    options
        .get(name)
        .map(|e| {
            if Strategy::is_duration(name) {
                duration(krate, e)
            } else {
                Ok(quote!(#e))
            }
        })
        .transpose()
}

pub(crate) fn expand(
    strategy: Strategy,
    attr: TokenStream,
    func: ItemFn,
) -> syn::Result<TokenStream> {
    let options = parse(strategy, attr)?;
    let krate = function::crate_path(options.common.krate.as_ref())?;
    let params = function::params(&func);
    let ret = function::return_type(&func)?;
    let v = |name: &str| value(&krate, &options, name);
    let req = |name: &str| -> syn::Result<TokenStream> {
        Ok(v(name)?.expect("required options are checked when parsing"))
    };

    // The key, as #[cashews::cache] writes it.
    let w = ident("__cashews_key");
    let prefix = match (&options.common.prefix, strategy) {
        (Some(p), _) => Some(p.value()),
        (None, Strategy::Failover) => Some("fail".to_owned()),
        (None, _) => None,
    };
    let key = match &options.common.key {
        None if matches!(strategy, Strategy::CircuitBreaker) => {
            // One breaker per function: its path only, not its arguments.
            // `self` comes first when there is one.
            let receiver = usize::from(params.first().is_some_and(|p| p.receiver));
            Key::default_of(&func, syn::Generics::default(), &params, receiver)?
        }
        template => Key::new(template.as_ref(), &func, &params)?,
    };

    let cache = ident("__cashews_cache");
    let returns = ident("__cashews_returns");
    let mode = ident("__cashews_mode");
    let opts = ident("__cashews_options");
    let cache_expr = match &options.common.cache {
        Some(e) => quote!(#e),
        None => quote!(#krate::global()),
    };
    let block = &func.block;
    let s = quote!(#krate::strategy);
    let p = quote!(#krate::__private);
    let mode_statement = function::mode_statement(&p, &mode, &returns);

    // The options value, and how the strategy is called.
    let call = match strategy {
        Strategy::Failover | Strategy::Soft | Strategy::CircuitBreaker => {
            // Their point is the function's errors: it returns a `Result`.
            let built = match strategy {
                Strategy::Failover => {
                    let ttl = req("ttl")?;
                    let mut b = quote!(#s::Failover::new(#ttl));
                    if let Some(when) = options.get("when") {
                        b.extend(quote!(.when(#returns.error_predicate(#when))));
                    }
                    b
                }
                Strategy::Soft => {
                    let (ttl, soft_ttl) = (req("ttl")?, req("soft_ttl")?);
                    let mut b = quote!(#s::Soft::new(#ttl, #soft_ttl));
                    if let Some(when) = options.get("when") {
                        b.extend(quote!(.when(#returns.error_predicate(#when))));
                    }
                    b
                }
                _ => {
                    let rate = req("errors_rate")?;
                    let (period, ttl) = (req("period")?, req("ttl")?);
                    let mut b = quote!(#s::CircuitBreaker::new(#rate, #period, #ttl));
                    if let Some(n) = v("min_calls")? {
                        b.extend(quote!(.min_calls(#n)));
                    }
                    match (v("half_open_ttl")?, v("half_open_percent")?) {
                        (Some(t), percent) => {
                            let percent = percent.unwrap_or_else(|| quote!(10));
                            b.extend(quote!(.half_open(#t, #percent)));
                        }
                        (None, Some(_)) => {
                            let (name, _) = &options.values["half_open_percent"];
                            return Err(syn::Error::new_spanned(
                                name,
                                "`half_open_percent` needs `half_open_ttl`",
                            ));
                        }
                        (None, None) => {}
                    }
                    if let Some(failure) = options.get("failure") {
                        b.extend(quote!(.failure(#returns.error_predicate(#failure))));
                    }
                    b
                }
            };
            let function = Ident::new(strategy.name(), Span::call_site());
            quote! {
                let #opts = #built;
                #s::#function(#cache, &#w, &#opts, move || #returns.call(async move #block))
                    .await
                    .value
            }
        }
        Strategy::RateLimit | Strategy::SliceRateLimit => {
            let (limit, period) = (req("limit")?, req("period")?);
            let built = match (strategy, v("ttl")?) {
                (Strategy::RateLimit, Some(ban)) => {
                    quote!(#s::RateLimit::new(#limit, #period).ban(#ban))
                }
                (Strategy::RateLimit, None) => quote!(#s::RateLimit::new(#limit, #period)),
                _ => quote!(#s::SliceRateLimit::new(#limit, #period)),
            };
            let refused = match options.get("action") {
                Some(action) => quote!(#action),
                None => quote! {
                    ::core::result::Result::Err(::core::convert::From::from(
                        #s::Limiter::refusal(&#opts, &#w),
                    ))
                },
            };
            // The body runs in place, not in a closure, so the action may
            // use the arguments too.
            quote! {
                let #opts = #built;
                if #s::admitted(#cache, &#w, &#opts).await {
                    #returns.call(async move #block).await
                } else {
                    #refused
                }
            }
        }
        Strategy::Tagged => {
            let ttl = req("ttl")?;
            let (tag_names, tag_writes) = tags(&options, &params, &p)?;
            quote! {
                #tag_writes
                #mode_statement
                #p::from_result(
                    #mode,
                    #s::tagged(
                        #cache,
                        &#w,
                        &[#(&*#tag_names),*],
                        #ttl,
                        move || #p::into_result(#mode, #returns.call(async move #block)),
                    )
                    .await
                    .value,
                )
            }
        }
        Strategy::Hit | Strategy::Locked | Strategy::Perf | Strategy::Early => {
            let (function, built) = match strategy {
                Strategy::Hit => {
                    let (ttl, hits) = (req("ttl")?, req("cache_hits")?);
                    let mut b = quote!(#s::Hit::new(#ttl, #hits));
                    if let Some(after) = v("update_after")? {
                        b.extend(quote!(.update_after(#after)));
                    }
                    (quote!(hit), b)
                }
                Strategy::Locked => {
                    let mut b = {
                        let ttl = req("ttl")?;
                        quote!(#s::Locked::new(#ttl))
                    };
                    for option in ["lock_ttl", "wait", "step"] {
                        if let Some(d) = v(option)? {
                            let method = Ident::new(option, Span::call_site());
                            b.extend(quote!(.#method(#d)));
                        }
                    }
                    (quote!(locked), b)
                }
                Strategy::Perf => {
                    let ttl = req("ttl")?;
                    let mut b = quote!(#s::Perf::new(#ttl));
                    if let Some(n) = v("trace_size")? {
                        b.extend(quote!(.trace_size(#n)));
                    }
                    if let Some(c) = v("perf_condition")? {
                        b.extend(quote!(.condition(#c)));
                    }
                    (quote!(perf), b)
                }
                _ => {
                    let ttl = req("ttl")?;
                    let mut b = quote!(#s::Early::new(#ttl));
                    for option in ["early_ttl", "lock_ttl", "xfetch"] {
                        if let Some(d) = v(option)? {
                            let method = Ident::new(option, Span::call_site());
                            b.extend(quote!(.#method(#d)));
                        }
                    }
                    (quote!(early), b)
                }
            };
            // Built in the function, so the state perf and early keep in
            // the cache is this function's own.
            quote! {
                let #opts = #built;
                #mode_statement
                #p::from_result(
                    #mode,
                    #s::#function(
                        #cache,
                        &#w,
                        &#opts,
                        move || #p::into_result(#mode, #returns.call(async move #block)),
                    )
                    .await
                    .value,
                )
            }
        }
    };

    let key_statements =
        template::key_statements(&p, &w, prefix.as_deref(), key.write(&w, &params, None));
    let body = quote! {
        let #cache: &#krate::Cache = &(#cache_expr);
        #key_statements
        let #returns = #p::Returns::<#ret>::new();
        #call
    };
    let companion = Companion {
        krate: &krate,
        func: &func,
        params: &params,
        cache: options.common.cache.as_ref(),
        prefix: prefix.as_deref(),
        key: &key,
        emit: options.common.companion(),
    };
    Ok(companion.function_and_companion(body))
}

/// The `tags = ["user:{id}", ...]` templates: a local per tag, written
/// after the key.
fn tags(
    options: &Options,
    params: &[function::Param],
    p: &TokenStream,
) -> syn::Result<(Vec<Ident>, TokenStream)> {
    let (name, value) = &options.values["tags"];
    let syn::Expr::Array(array) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{name}` takes a list of key templates, like [\"user:{{id}}\"]"),
        ));
    };
    let w = ident("__cashews_tag");
    let buf = ident("__cashews_tag_buf");
    let (mut names, mut out) = (Vec::new(), TokenStream::new());
    for (i, element) in array.elems.iter().enumerate() {
        let lit = args::lit_str(name, element.clone(), "a key template like \"user:{id}\"")?;
        let (write, capacity) = Template::parse_key(lit, params)?.write(&w, "text");
        let tag = ident(&format!("__cashews_tag_{i}"));
        out.extend(quote! {
            let #tag = {
                let mut #buf = #p::KeyBuf::with_capacity(#capacity);
                let mut #w = #p::KeyWriter::new(&mut #buf);
                #write
                #buf.into_string()
            };
        });
        names.push(tag);
    }
    Ok((names, out))
}
