//! Trust by CA fingerprint (`--ca-fingerprint`), as Elasticsearch's clients offer: the
//! server's chain must hold a certificate with the pinned SHA-256, and the server's own
//! certificate must verify against it as the only root (names included), so a pinned
//! CA cannot vouch for a certificate it did not sign.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A client configuration accepting only chains under the CA with this fingerprint.
pub fn client_config(fingerprint: [u8; 32]) -> rustls::ClientConfig {
    // ring, as reqwest's rustls uses: one crypto library in the binary. rustls deprecates
    // it for lacking post-quantum key exchange, which neither end here needs yet.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            fingerprint,
            provider,
        }))
        .with_no_client_auth()
}

#[derive(Debug)]
struct Pinned {
    fingerprint: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Pinned {
    /// A verifier trusting only `ca`.
    fn under(&self, ca: &CertificateDer<'_>) -> Result<crate::Verifier, Error> {
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| Error::General(format!("the pinned CA is not usable: {e}")))?;
        Ok(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| Error::General(format!("the pinned CA is not usable: {e}")))?,
        )
    }

    fn schemes(&self) -> &rustls::crypto::WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let digest = |c: &CertificateDer<'_>| -> [u8; 32] { Sha256::digest(c.as_ref()).into() };
        if digest(end_entity) == self.fingerprint {
            return Ok(ServerCertVerified::assertion());
        }
        let Some(ca) = intermediates.iter().find(|c| digest(c) == self.fingerprint) else {
            return Err(Error::General(
                "certificate: the server's chain holds no certificate with the pinned \
                 --ca-fingerprint"
                    .into(),
            ));
        };
        let rest: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|c| c.as_ref() != ca.as_ref())
            .cloned()
            .collect();
        self.under(ca)?
            .verify_server_cert(end_entity, &rest, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.schemes())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.schemes())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes().supported_schemes()
    }
}
