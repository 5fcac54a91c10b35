//! Service principal authentication with a certificate, without OpenSSL.
//!
//! Entra ID accepts a client assertion: a JWT naming the application, signed with the
//! certificate's RSA key (RS256), with the certificate's SHA-1 thumbprint in the `x5t` header.
//! amlops reads a PEM file holding the certificate and its private key (the form
//! `AZURE_CLIENT_CERTIFICATE_PATH` takes in Azure's other SDKs) and signs a fresh assertion
//! for every token request.

use std::fmt;
use std::path::Path;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

/// How long an assertion is valid; Entra ID only needs it for the one token request.
const LIFETIME_SECONDS: i64 = 600;

pub struct CertificateAssertion {
    key: RsaKeyPair,
    /// Base64url SHA-1 thumbprint of the certificate.
    thumbprint: String,
    /// The token endpoint the assertion is for.
    audience: String,
    client_id: String,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("thumbprint", &self.thumbprint)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Reads the certificate and RSA key (PKCS#8 or PKCS#1) from a PEM file.
    pub fn from_pem_file(path: &Path, audience: &str, client_id: &str) -> Result<Self, String> {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the certificate {}: {e}", path.display()))?;
        Self::from_pem(&pem, audience, client_id).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn from_pem(pem: &[u8], audience: &str, client_id: &str) -> Result<Self, String> {
        let certificate = CertificateDer::from_pem_slice(pem)
            .map_err(|e| format!("no certificate found ({e})"))?;
        let key = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("no private key found ({e})"))?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err("the private key is not an RSA key".into()),
        }
        .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
        let thumbprint = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, certificate.as_ref());
        Ok(Self {
            key,
            thumbprint: URL_SAFE_NO_PAD.encode(thumbprint.as_ref()),
            audience: audience.to_owned(),
            client_id: client_id.to_owned(),
        })
    }

    /// A signed assertion, valid from `now` (Unix seconds).
    pub fn sign(&self, now: i64, id: &str) -> Result<String, String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        let claims = json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": id,
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "cannot sign the client assertion".to_owned())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.sign(now, &uuid::Uuid::new_v4().to_string())
            .map_err(|message| {
                azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, message)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    fn certificate() -> (String, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        let params = rcgen::CertificateParams::new(vec!["amlops-test".into()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        (
            format!("{}{}", cert.pem(), key.serialize_pem()),
            key.public_key_raw().to_vec(),
        )
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn signs_a_verifiable_assertion() {
        let (pem, public_key) = certificate();
        let assertion = CertificateAssertion::from_pem(
            pem.as_bytes(),
            "https://idp/t/oauth2/v2.0/token",
            "app",
        )
        .unwrap();
        let jwt = assertion.sign(1_000, "id-1").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], assertion.thumbprint);
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], "https://idp/t/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["sub"], "app");
        assert_eq!(claims["exp"], 1_600);
        // The signature verifies with the certificate's public key.
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("signature verifies");
    }

    #[test]
    fn refuses_files_without_key_or_certificate() {
        let (pem, _) = certificate();
        let only_cert: String = pem
            .split_inclusive('\n')
            .take_while(|l| !l.contains("PRIVATE KEY"))
            .collect();
        let error = CertificateAssertion::from_pem(only_cert.as_bytes(), "a", "c").unwrap_err();
        assert!(error.starts_with("no private key found"), "{error}");
        let error = CertificateAssertion::from_pem(b"nothing", "a", "c").unwrap_err();
        assert!(error.starts_with("no certificate found"), "{error}");
    }
}
