//! `#[switchyard_sdk::plugin]`: exports an `impl Plugin for T` block as the
//! component's plugin, declaring exactly the hooks the block implements.
//!
//! The hooks a plugin declares (the WIT `declared-hooks`, which the host
//! uses to skip the rest and to check the hooks a config relies on) are read
//! from the impl itself — the `fn on_request` / `fn pick_backend` /
//! `fn on_health` / `fn on_response` written in it — so there is no list to keep in step with
//! the code.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// The hooks an `impl Plugin` may write, as method names.
const HOOKS: [&str; 4] = ["on_request", "pick_backend", "on_health", "on_response"];

/// Exports the type of an `impl Plugin for T { ... }` block as the plugin,
/// declaring the hooks written in the block. See `switchyard_sdk`.
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[plugin] takes no arguments: the hooks are read from the impl");
    }
    let (ty, hooks) = match read_impl(&item) {
        Ok(found) => found,
        Err(msg) => return error(msg),
    };
    let export = format!(
        "::switchyard_sdk::__export_plugin!({ty}, hooks = [{}]);",
        hooks.join(", ")
    );
    let mut out = item;
    match export.parse::<TokenStream>() {
        Ok(ts) => out.extend(ts),
        Err(_) => return error("#[plugin]: cannot name the implementing type"),
    }
    out
}

/// The implementing type (as source text) and the hooks written in the
/// block, of `impl [..] Plugin for TYPE { .. }`.
fn read_impl(item: &TokenStream) -> Result<(String, Vec<&'static str>), &'static str> {
    const NOT_AN_IMPL: &str = "#[plugin] goes on an `impl Plugin for YourType { ... }` block";
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let is = |t: &TokenTree, word: &str| matches!(t, TokenTree::Ident(i) if i.to_string() == word);
    if !tokens.iter().any(|t| is(t, "impl")) {
        return Err(NOT_AN_IMPL);
    }
    let Some(for_at) = tokens.iter().position(|t| is(t, "for")) else {
        return Err(NOT_AN_IMPL);
    };
    let Some(TokenTree::Group(body)) = tokens.last() else {
        return Err(NOT_AN_IMPL);
    };
    if body.delimiter() != Delimiter::Brace {
        return Err(NOT_AN_IMPL);
    }
    let ty: String = tokens[for_at + 1..tokens.len() - 1]
        .iter()
        .take_while(|t| !is(t, "where"))
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    if ty.is_empty() {
        return Err(NOT_AN_IMPL);
    }
    // Top-level items of the block only: a `fn` nested in a method body
    // sits inside that body's own group.
    let items: Vec<TokenTree> = body.stream().into_iter().collect();
    let hooks = HOOKS
        .into_iter()
        .filter(|h| items.windows(2).any(|w| is(&w[0], "fn") && is(&w[1], h)))
        .collect();
    Ok((ty, hooks))
}

/// `compile_error!(msg)`.
fn error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});")
        .parse()
        .unwrap_or_default()
}
