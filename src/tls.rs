//! TLS for fetching pages: rustls with the ring provider, the platform's trust roots plus any
//! `--ca-cert`, and a verifier that records its verdict instead of failing the connection.
//!
//! The provider's inspection looks at what a site shows; a certificate the client does not
//! trust does not hide the footer, so the handshake goes on and the verdict (trusted, expired,
//! wrong host, unknown issuer) is kept per host as evidence.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;

/// What the strict verifier thought of a server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertVerdict {
    Trusted,
    Expired,
    NotYetValid,
    WrongHost,
    /// Self-signed, or signed by a CA the client does not know.
    UnknownIssuer,
    Revoked,
    Invalid,
}

impl CertVerdict {
    pub fn label(self) -> &'static str {
        match self {
            CertVerdict::Trusted => "trusted",
            CertVerdict::Expired => "expired",
            CertVerdict::NotYetValid => "not_yet_valid",
            CertVerdict::WrongHost => "wrong_host",
            CertVerdict::UnknownIssuer => "unknown_issuer",
            CertVerdict::Revoked => "revoked",
            CertVerdict::Invalid => "invalid",
        }
    }

    fn of(error: &rustls::Error) -> CertVerdict {
        let rustls::Error::InvalidCertificate(cert) = error else {
            return CertVerdict::Invalid;
        };
        match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertVerdict::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertVerdict::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertVerdict::WrongHost
            }
            CertificateError::UnknownIssuer => CertVerdict::UnknownIssuer,
            CertificateError::Revoked => CertVerdict::Revoked,
            _ => CertVerdict::Invalid,
        }
    }
}

/// The certificate verdict for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertNote {
    pub host: String,
    pub verdict: CertVerdict,
}

/// A problem building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{path}: cannot read CA certificate: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Trust settings shared by all sites of a run.
#[derive(Debug, Clone)]
pub struct TlsTrust {
    provider: Arc<CryptoProvider>,
    strict: Arc<dyn ServerCertVerifier>,
}

impl TlsTrust {
    /// The platform's roots plus the given extra CA certificates (PEM files).
    pub fn new(extra_ca_files: &[std::path::PathBuf]) -> Result<TlsTrust, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut extra = Vec::new();
        for path in extra_ca_files {
            extra.extend(read_pem_certs(path)?);
        }
        let strict =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())?;
        Ok(TlsTrust {
            provider,
            strict: Arc::new(strict),
        })
    }

    /// A client configuration for one site, with its own record of verdicts.
    pub fn site_config(&self) -> Result<(rustls::ClientConfig, CertRecord), TlsSetupError> {
        let record = CertRecord::default();
        let verifier = Arc::new(RecordingVerifier {
            strict: self.strict.clone(),
            record: record.clone(),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok((config, record))
    }
}

fn read_pem_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    use rustls::pki_types::pem::PemObject;

    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| TlsSetupError::Read {
        path: name.clone(),
        error,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { path: name });
    }
    Ok(certs)
}

/// Verdicts recorded during one site's handshakes.
#[derive(Debug, Clone, Default)]
pub struct CertRecord(Arc<Mutex<Vec<CertNote>>>);

impl CertRecord {
    fn push(&self, note: CertNote) {
        let mut notes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// The verdict for a host, if a handshake with it happened.
    pub fn verdict_for(&self, host: &str) -> Option<CertVerdict> {
        let notes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        notes
            .iter()
            .rev()
            .find(|n| n.host == host)
            .map(|n| n.verdict)
    }

    pub fn notes(&self) -> Vec<CertNote> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Debug)]
struct RecordingVerifier {
    strict: Arc<dyn ServerCertVerifier>,
    record: CertRecord,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match self.strict.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(_) => CertVerdict::Trusted,
            Err(error) => CertVerdict::of(&error),
        };
        let host = server_name.to_str().to_string();
        tracing::debug!(%host, verdict = verdict.label(), "certificate verdict");
        self.record.push(CertNote { host, verdict });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.strict.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.strict.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.strict.supported_verify_schemes()
    }
}
