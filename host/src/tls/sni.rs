//! Picks a listener's certificate by the ClientHello's SNI: an exact name
//! first, then a `*.example.com` wildcard one label deep, else the default
//! (the first configured), which also answers clients that send no SNI.

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// Certificates by name; built once per config.
#[derive(Debug)]
pub struct SniResolver {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl SniResolver {
    /// `keys` in config order, each with its certificate's DNS names; the
    /// first is the default. When two certificates name the same host, the
    /// earlier one wins. `None` when `keys` is empty.
    pub fn new(keys: Vec<(Vec<String>, Arc<CertifiedKey>)>) -> Option<SniResolver> {
        let default = keys.first()?.1.clone();
        let (mut exact, mut wildcard) = (HashMap::new(), HashMap::new());
        for (names, key) in keys {
            for name in names {
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_string()),
                    None => exact.entry(name),
                }
                .or_insert_with(|| key.clone());
            }
        }
        Some(SniResolver {
            default,
            exact,
            wildcard,
        })
    }

    /// The certificate for `sni` (lower-case, as rustls hands it over).
    fn pick(&self, sni: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = sni else {
            return &self.default;
        };
        self.exact
            .get(name)
            .or_else(|| {
                name.split_once('.')
                    .and_then(|(_, parent)| self.wildcard.get(parent))
            })
            .unwrap_or(&self.default)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::SignatureScheme;
    use rustls::sign::{Signer, SigningKey};
    use rustls_pki_types::CertificateDer;

    /// A key that never signs: only its identity matters here.
    #[derive(Debug)]
    struct NoKey;
    impl SigningKey for NoKey {
        fn choose_scheme(&self, _: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
            None
        }
        fn algorithm(&self) -> rustls::SignatureAlgorithm {
            rustls::SignatureAlgorithm::ECDSA
        }
    }

    fn key(tag: u8) -> Arc<CertifiedKey> {
        Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(vec![tag])],
            Arc::new(NoKey),
        ))
    }

    fn tag(k: &Arc<CertifiedKey>) -> u8 {
        k.cert[0].as_ref()[0]
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let r = SniResolver::new(vec![
            (vec!["a.test".into()], key(1)),
            (vec!["b.test".into(), "*.b.test".into()], key(2)),
            (vec!["a.test".into(), "x.b.test".into()], key(3)),
        ])
        .expect("resolver");
        assert_eq!(tag(r.pick(None)), 1);
        assert_eq!(tag(r.pick(Some("a.test"))), 1, "earlier certificate wins");
        assert_eq!(tag(r.pick(Some("b.test"))), 2);
        assert_eq!(tag(r.pick(Some("y.b.test"))), 2, "wildcard");
        assert_eq!(tag(r.pick(Some("x.b.test"))), 3, "exact beats wildcard");
        assert_eq!(tag(r.pick(Some("z.y.b.test"))), 1, "wildcard is one label");
        assert_eq!(tag(r.pick(Some("unknown.test"))), 1);
    }

    #[test]
    fn no_keys_no_resolver() {
        assert!(SniResolver::new(vec![]).is_none());
    }
}
