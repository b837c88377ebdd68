//! Key templates (`"user:{id}:{token:hash}"`) and the default key: parsed
//! and checked against the parameters here, written at run time by
//! `cashews::__private::KeyWriter`, the one key writer every attribute uses:
//! the same statements write a cached call's key and, with some values left
//! open, the key pattern of its companion (`companion.rs`).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Generics, Ident, ItemFn, LitStr};

use crate::function::Param;

/// A filter applied to a value: `{name:lower}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    None,
    Hash,
    Lower,
    Upper,
    Len,
    Display,
}

impl Filter {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hash" => Self::Hash,
            "lower" => Self::Lower,
            "upper" => Self::Upper,
            "len" => Self::Len,
            "display" => Self::Display,
            _ => return None,
        })
    }
}

/// A field access after a parameter: `.0` or `.name` (raw `.r#type` too).
enum Field {
    Index(u32),
    Name(Ident),
}

enum Segment {
    Text(String),
    Value {
        /// Index into the parameters.
        param: usize,
        /// That parameter's name.
        root: Ident,
        /// `.field` / `.0` accesses after the parameter.
        fields: Vec<Field>,
        filter: Filter,
        /// The text between the braces, for messages.
        raw: String,
    },
}

/// A template checked against the function's parameters.
pub(crate) struct Template {
    lit: LitStr,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses a template and checks it against the parameters; for
    /// invalidation patterns (keys and tags use [`parse_key`](Self::parse_key)).
    pub(crate) fn parse(lit: LitStr, params: &[Param]) -> syn::Result<Self> {
        let text = lit.value();
        let err = |msg: String| syn::Error::new_spanned(&lit, msg);
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(err(
                        "unmatched `}` in the key template (write `}}` for a literal one)".into(),
                    ));
                }
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => {
                                return Err(err(format!(
                                    "unclosed `{{{inner}` in the key template (write `{{{{` for a literal `{{`)"
                                )));
                            }
                        }
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(parse_value(&inner, params).map_err(err)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Self { lit, segments })
    }

    /// A template for keys and tags: [`parse`](Self::parse), and between any
    /// two values a `:` (values never hold one, so each key has one
    /// reading), or a `hash` value (fixed width) before the second.
    pub(crate) fn parse_key(lit: LitStr, params: &[Param]) -> syn::Result<Self> {
        let template = Self::parse(lit, params)?;
        let mut open: Option<(Filter, &str)> = None;
        for segment in &template.segments {
            match segment {
                Segment::Text(text) if text.contains(':') => open = None,
                Segment::Text(_) => {}
                Segment::Value { filter, raw, .. } => {
                    if let Some((before, before_raw)) = open
                        && before != Filter::Hash
                    {
                        return Err(syn::Error::new_spanned(
                            &template.lit,
                            format!(
                                "`{{{before_raw}}}` and `{{{raw}}}` need a `:` between them in the key \
                                 template, or two different calls could share a key \
                                 (`{{a}}{{b}}` writes `12` for both (1, 23) and (12, 3))"
                            ),
                        ));
                    }
                    open = Some((*filter, raw));
                }
            }
        }
        Ok(template)
    }

    /// Statements writing the template with the writer `w`; `text` is the
    /// writer's method for the template's own text (`text` for keys, `glob`
    /// for patterns). Returns them and a capacity hint.
    pub(crate) fn write(&self, w: &Ident, text: &str) -> (TokenStream, usize) {
        self.write_with(w, text, None)
    }

    /// [`write`](Self::write), with the open parameters of `parts` (those
    /// given as a `KeyPart`) written as their value or a wildcard.
    fn write_with(&self, w: &Ident, text: &str, parts: Option<&Parts<'_>>) -> (TokenStream, usize) {
        let span = self.lit.span();
        let text = Ident::new(text, Span::mixed_site());
        let mut out = TokenStream::new();
        let mut capacity = 0;
        for segment in &self.segments {
            match segment {
                Segment::Text(s) => {
                    capacity += s.len();
                    out.extend(quote!(#w.#text(#s);));
                }
                Segment::Value {
                    param,
                    root,
                    fields,
                    filter,
                    ..
                } => {
                    capacity += 16;
                    // Respanned rather than rebuilt from text: `Ident::new`
                    // panics on a raw identifier (`r#type`).
                    let mut root = root.clone();
                    root.set_span(span);
                    let fields: TokenStream = fields
                        .iter()
                        .map(|f| match f {
                            Field::Index(index) => {
                                let i = syn::Index {
                                    index: *index,
                                    span,
                                };
                                quote_spanned!(span=> .#i)
                            }
                            Field::Name(name) => {
                                let mut f = name.clone();
                                f.set_span(span);
                                quote_spanned!(span=> .#f)
                            }
                        })
                        .collect();
                    let write = |value: TokenStream| match filter {
                        Filter::None => quote_spanned!(span=> #w.arg(&#value);),
                        Filter::Len => quote_spanned!(span=> #w.arg(&#value.len());),
                        Filter::Hash => quote_spanned!(span=> #w.hash(&#value);),
                        Filter::Lower => quote_spanned!(span=> #w.lower(&#value);),
                        Filter::Upper => quote_spanned!(span=> #w.upper(&#value);),
                        Filter::Display => quote_spanned!(span=> #w.display(&#value);),
                    };
                    out.extend(match parts {
                        Some(parts) if parts.is_open(*param) => {
                            let key_part = parts.key_part;
                            // `(*root)` is the value as the cached call sees
                            // it, so the same mistakes give the same errors.
                            let write = write(quote_spanned!(span=> (*#root) #fields));
                            quote_spanned! {span=>
                                if let #key_part::Value(#root) = &#root {
                                    #write
                                } else {
                                    #w.wildcard();
                                }
                            }
                        }
                        _ => write(quote_spanned!(span=> #root #fields)),
                    });
                }
            }
        }
        (out, capacity)
    }
}

fn parse_value(inner: &str, params: &[Param]) -> Result<Segment, String> {
    let (path, filter) = match inner.split_once(':') {
        Some((path, name)) => {
            let filter = Filter::parse(name).ok_or_else(|| {
                format!("unknown key filter `{name}` in `{{{inner}}}`; filters: hash, lower, upper, len, display")
            })?;
            (path, filter)
        }
        None => (inner, Filter::None),
    };
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or_default();
    if root.is_empty() {
        return Err(format!(
            "`{{{inner}}}` names no parameter; write `{{name}}` (write `{{{{` for a literal `{{`)"
        ));
    }
    let (param, root) = params
        .iter()
        .enumerate()
        .find_map(|(i, p)| p.name.as_ref().filter(|n| *n == root).map(|n| (i, n.clone())))
        .ok_or_else(|| {
            let names: Vec<String> = params
                .iter()
                .filter_map(|p| p.name.as_ref().map(ToString::to_string))
                .collect();
            format!(
                "the key template names `{root}`, which is not a parameter of this function (parameters: {})",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )
        })?;
    let mut fields = Vec::new();
    for field in parts {
        let parsed = if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) {
            field.parse::<u32>().ok().map(Field::Index)
        } else {
            syn::parse_str::<Ident>(field).ok().map(Field::Name)
        };
        let Some(parsed) = parsed else {
            return Err(format!(
                "`{field}` in `{{{inner}}}` is not a field name; write `{{param.field}}` or `{{param.0}}`"
            ));
        };
        fields.push(parsed);
    }
    Ok(Segment::Value {
        param,
        root,
        fields,
        filter,
        raw: inner.to_owned(),
    })
}

/// A caching attribute's key: a template, or the default key.
pub(crate) enum Key {
    Template(Template),
    /// The function's path (for a method, the `Self` type's), its type
    /// parameters, then `:name:value` for each parameter but `self`, of the
    /// first `params` parameters.
    Default {
        fn_name: Ident,
        generics: Generics,
        params: usize,
    },
}

/// The companion's parameters: which are `KeyPart`s (`open`, by index) and
/// the path of `KeyPart`.
pub(crate) struct Parts<'a> {
    pub(crate) key_part: &'a TokenStream,
    pub(crate) open: &'a [bool],
}

impl Parts<'_> {
    fn is_open(&self, param: usize) -> bool {
        self.open.get(param).copied().unwrap_or(false)
    }
}

impl Key {
    /// The key of `template`, or the default key of every parameter.
    pub(crate) fn new(
        template: Option<&LitStr>,
        func: &ItemFn,
        params: &[Param],
    ) -> syn::Result<Self> {
        match template {
            Some(lit) => Ok(Self::Template(Template::parse_key(lit.clone(), params)?)),
            None => Self::default_of(func, func.sig.generics.clone(), params, params.len()),
        }
    }

    /// The default key of the function's first `count` parameters, with
    /// `generics`. Errors for a parameter without a name.
    pub(crate) fn default_of(
        func: &ItemFn,
        generics: Generics,
        params: &[Param],
        count: usize,
    ) -> syn::Result<Self> {
        for p in params.iter().take(count).filter(|p| !p.receiver) {
            if p.name.is_none() {
                return Err(syn::Error::new(
                    p.span,
                    "a parameter without a name cannot be part of the default key: \
                     give it a name, or give the attribute a `key` template",
                ));
            }
        }
        Ok(Self::Default {
            fn_name: func.sig.ident.clone(),
            generics,
            params: count,
        })
    }

    /// Statements writing the key with the writer `w`, and a capacity hint;
    /// `parts` for the companion.
    pub(crate) fn write(
        &self,
        w: &Ident,
        params: &[Param],
        parts: Option<&Parts<'_>>,
    ) -> (TokenStream, usize) {
        match self {
            Self::Template(template) => template.write_with(w, "text", parts),
            Self::Default {
                fn_name,
                generics,
                params: count,
            } => write_default(
                w,
                fn_name,
                generics,
                params.get(..*count).unwrap_or(params),
                parts,
            ),
        }
    }
}

/// Statements writing the default key (see [`Key::Default`]).
fn write_default(
    w: &Ident,
    fn_name: &Ident,
    generics: &Generics,
    params: &[Param],
    parts: Option<&Parts<'_>>,
) -> (TokenStream, usize) {
    let name = fn_name.to_string();
    let mut out = if params.iter().any(|p| p.receiver) {
        let tail = format!("::{name}");
        quote! {
            #w.text(::core::any::type_name::<Self>());
            #w.text(#tail);
        }
    } else {
        let tail = format!("::{name}");
        quote!(#w.text(::core::concat!(::core::module_path!(), #tail));)
    };
    let mut capacity = 48;
    let mut first = true;
    for param in generics.params.iter() {
        let sep = if first { "::<" } else { "," };
        match param {
            syn::GenericParam::Type(t) => {
                let ident = &t.ident;
                out.extend(quote! {
                    #w.text(#sep);
                    #w.text(::core::any::type_name::<#ident>());
                });
            }
            syn::GenericParam::Const(c) => {
                let ident = &c.ident;
                out.extend(quote! {
                    #w.text(#sep);
                    #w.arg(&#ident);
                });
            }
            syn::GenericParam::Lifetime(_) => continue,
        }
        first = false;
    }
    if !first {
        out.extend(quote!(#w.text(">");));
    }
    for (i, p) in params.iter().enumerate().filter(|(_, p)| !p.receiver) {
        let Some(ident) = &p.name else {
            continue;
        };
        let label = format!(":{}:", ident.to_string().trim_start_matches("r#"));
        capacity += label.len() + 16;
        let arg = format_ident!("{}", ident, span = ident.span());
        out.extend(match parts {
            Some(parts) if parts.is_open(i) => {
                let key_part = parts.key_part;
                // `&*arg` is the value as the cached call sees it, so the
                // same mistakes give the same errors.
                quote_spanned! {ident.span()=>
                    if let #key_part::Value(#arg) = &#arg {
                        #w.named(#label, &*#arg);
                    } else {
                        #w.text(#label);
                        #w.wildcard();
                    }
                }
            }
            _ => quote_spanned!(ident.span()=> #w.named(#label, &#arg);),
        });
    }
    (out, capacity)
}

/// The statements every caching attribute starts with: build the call's
/// key in a `KeyWriter` bound to `w` (`prefix:`, then `key`, the writes of
/// a template or of the default key, which need `key_capacity` bytes), and
/// rebind `w` to the finished key. `p` is the path of `__private`.
pub(crate) fn key_statements(
    p: &TokenStream,
    w: &Ident,
    prefix: Option<&str>,
    (key, key_capacity): (TokenStream, usize),
) -> TokenStream {
    let (write, capacity) = with_prefix(w, prefix, key, key_capacity);
    // The key is written where it stays (a local of the call's future) and
    // then only borrowed: see `KeyWriter`.
    let buf = Ident::new("__cashews_key_buf", Span::mixed_site());
    quote! {
        let mut #buf = #p::KeyBuf::with_capacity(#capacity);
        {
            let mut #w = #p::KeyWriter::new(&mut #buf);
            #write
        }
        let #w: &str = &#buf;
    }
}

/// `prefix:` (as template text) then `key`, and their capacity.
pub(crate) fn with_prefix(
    w: &Ident,
    prefix: Option<&str>,
    key: TokenStream,
    key_capacity: usize,
) -> (TokenStream, usize) {
    let (mut write, mut capacity) = (TokenStream::new(), key_capacity);
    if let Some(prefix) = prefix {
        let text = format!("{prefix}:");
        capacity += text.len();
        write.extend(quote!(#w.text(#text);));
    }
    write.extend(key);
    (write, capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<Param> {
        let func: syn::ItemFn = syn::parse_quote!(
            async fn f(&self, id: u64, user: &User, (a, b): (u8, u8)) {}
        );
        crate::function::params(&func)
    }

    fn parse(template: &str) -> Result<Template, String> {
        let lit = LitStr::new(template, Span::call_site());
        Template::parse(lit, &params()).map_err(|e| e.to_string())
    }

    fn written(template: &str) -> String {
        let t = parse(template).unwrap();
        let w = Ident::new("w", Span::call_site());
        t.write(&w, "text").0.to_string()
    }

    #[test]
    fn values_fields_and_filters_become_writer_calls() {
        let out = written("user:{id}:{user.name:lower}:{self.tenant}:{user.0:hash}");
        assert!(out.contains(r#"w . text ("user:")"#), "{out}");
        assert!(out.contains("w . arg (& id)"), "{out}");
        assert!(out.contains("w . lower (& user . name)"), "{out}");
        assert!(out.contains("w . arg (& self . tenant)"), "{out}");
        assert!(out.contains("w . hash (& user . 0)"), "{out}");
        assert!(written("{id:len}").contains("w . arg (& id . len ())"));
    }

    /// Found by the key_template fuzz target: these panicked the macro.
    #[test]
    fn raw_identifiers_are_fields_and_parameters() {
        let out = written("{user.r#type}");
        assert!(out.contains("w . arg (& user . r#type)"), "{out}");
        let func: syn::ItemFn = syn::parse_quote!(
            fn f(r#type: u8) {}
        );
        let params = crate::function::params(&func);
        let t = Template::parse(LitStr::new("{r#type}", Span::call_site()), &params).unwrap();
        let out = t.write(&Ident::new("w", Span::call_site()), "text").0;
        assert!(out.to_string().contains("& r#type"), "{out}");
    }

    #[test]
    fn key_templates_separate_values_with_a_colon() {
        let key = |template: &str| {
            let lit = LitStr::new(template, Span::call_site());
            Template::parse_key(lit, &params())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        for template in [
            "{id}{user}",
            "{id}-{user}",
            "x:{id}_{user.0:lower}:y",
            "{id:len}{id}",
        ] {
            let err = key(template).err().unwrap_or_default();
            assert!(err.contains("need a `:` between them"), "{template}: {err}");
        }
        for template in [
            "{id}:{user}",
            "a{id}b:c{user}d",
            "{id:hash}{user}",
            "{id}",
            "u:{id}-x",
        ] {
            assert_eq!(key(template), Ok(()), "{template}");
        }
        // Patterns may join values: they are not keys.
        assert!(parse("{id}{user}").is_ok());
    }

    #[test]
    fn doubled_braces_are_literal() {
        let out = written("{{id}}:{id}");
        assert!(out.contains(r#"w . text ("{id}:")"#), "{out}");
    }

    #[test]
    fn mistakes_are_named() {
        for (template, message) in [
            ("{nope}", "names `nope`, which is not a parameter"),
            ("{id:shout}", "unknown key filter `shout`"),
            ("{}", "names no parameter"),
            ("{id", "unclosed"),
            ("id}", "unmatched `}`"),
            ("{user.}", "is not a field name"),
            ("{user.na-me}", "is not a field name"),
            ("{user.99999999999}", "is not a field name"),
        ] {
            let err = parse(template).err().unwrap_or_default();
            assert!(err.contains(message), "{template}: {err}");
        }
        assert!(
            parse("{nope}")
                .err()
                .unwrap()
                .contains("parameters: self, id, user"),
            "unnamed parameters are not listed"
        );
    }
}
