//! Where messages go: an SMTP server (lettre) or a local Maildir.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use firedrill_core::config::SmtpTls;
use firedrill_core::config::{EmailTransport, Secret};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::message::OutgoingEmail;
use crate::{NotifyError, SecretError};

/// Sends one message; an error means it was not accepted and may be retried.
pub trait Mailer {
    fn send(&self, email: &OutgoingEmail) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// SMTP through lettre, with rustls on the ring provider.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .finish()
    }
}

/// Reads a secret from the environment or a file (trailing newline dropped).
pub fn resolve_secret(secret: &Secret) -> Result<String, SecretError> {
    match secret {
        Secret::Env(name) => std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone())),
        Secret::File(path) => std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|source| SecretError::File {
                path: path.display().to_string(),
                source,
            }),
    }
}

impl SmtpMailer {
    /// A mailer for `host:port`. `tls`: STARTTLS (required), implicit TLS, or none (local
    /// relays and tests only). A password is used only together with a username. The
    /// server's certificate is checked against the platform's trust store.
    pub fn new(
        host: &str,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, String)>,
    ) -> Result<SmtpMailer, NotifyError> {
        SmtpMailer::build(host, port, tls, credentials, None)
    }

    /// Like [`SmtpMailer::new`], but the server's certificate must chain to the PEM root
    /// certificate `root_pem` (a private CA of an internal relay) instead of the
    /// platform's trust store.
    pub fn with_root_certificate(
        host: &str,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, String)>,
        root_pem: &[u8],
    ) -> Result<SmtpMailer, NotifyError> {
        SmtpMailer::build(host, port, tls, credentials, Some(root_pem))
    }

    fn build(
        host: &str,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, String)>,
        root_pem: Option<&[u8]>,
    ) -> Result<SmtpMailer, NotifyError> {
        let server = format!("{host}:{port}");
        let smtp_err = |source| NotifyError::Smtp {
            server: server.clone(),
            source,
        };
        let parameters = || -> Result<TlsParameters, NotifyError> {
            let mut builder = TlsParameters::builder(host.to_string());
            if let Some(pem) = root_pem {
                builder = builder
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(Certificate::from_pem(pem).map_err(smtp_err)?);
            }
            builder.build().map_err(smtp_err)
        };
        let tls = match tls {
            SmtpTls::Starttls => Tls::Required(parameters()?),
            SmtpTls::Tls => Tls::Wrapper(parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            // A hung server must not stall the outbox forever.
            .timeout(Some(Duration::from_secs(30)));
        if let Some((username, password)) = credentials {
            builder = builder.credentials(Credentials::new(username, password));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            server,
        })
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let message = email.to_message()?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|source| NotifyError::Smtp {
                server: self.server.clone(),
                source,
            })
    }
}

/// Writes each message as a file in `DIR/new/` (Maildir), for hosts without SMTP and for
/// inspecting what would be sent.
#[derive(Debug, Clone)]
pub struct MaildirMailer {
    dir: PathBuf,
}

static MAILDIR_COUNTER: AtomicU64 = AtomicU64::new(0);

impl MaildirMailer {
    pub fn new(dir: impl Into<PathBuf>) -> MaildirMailer {
        MaildirMailer { dir: dir.into() }
    }

    fn write(&self, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.{}_{}.{}.firedrill",
            now.as_secs(),
            std::process::id(),
            MAILDIR_COUNTER.fetch_add(1, Ordering::Relaxed),
            now.subsec_nanos()
        );
        // Written under tmp/ and renamed: readers of new/ never see half a message.
        let tmp = self.dir.join("tmp").join(&name);
        std::fs::write(&tmp, bytes)?;
        let new = self.dir.join("new").join(&name);
        std::fs::rename(&tmp, &new)?;
        Ok(new)
    }
}

impl Mailer for MaildirMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let bytes = email.to_message()?.formatted();
        self.write(&bytes)
            .map(|_| ())
            .map_err(|source| NotifyError::Maildir {
                path: self.dir.display().to_string(),
                source,
            })
    }
}

/// The mailer the configuration asks for.
#[derive(Debug, Clone)]
pub enum ConfiguredMailer {
    Smtp(SmtpMailer),
    Maildir(MaildirMailer),
}

impl Mailer for ConfiguredMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        match self {
            ConfiguredMailer::Smtp(mailer) => mailer.send(email).await,
            ConfiguredMailer::Maildir(mailer) => mailer.send(email).await,
        }
    }
}

/// Builds the mailer of `transport`, reading the SMTP password from its env var or file.
pub fn mailer_from_config(transport: &EmailTransport) -> Result<ConfiguredMailer, NotifyError> {
    match transport {
        EmailTransport::Smtp {
            host,
            port,
            tls,
            username,
            password,
        } => {
            let credentials = match (username, password) {
                (Some(username), Some(password)) => Some((
                    username.clone(),
                    resolve_secret(password).map_err(NotifyError::SmtpPassword)?,
                )),
                (Some(username), None) => Some((username.clone(), String::new())),
                _ => None,
            };
            Ok(ConfiguredMailer::Smtp(SmtpMailer::new(
                host,
                *port,
                *tls,
                credentials,
            )?))
        }
        EmailTransport::Maildir(dir) => Ok(ConfiguredMailer::Maildir(MaildirMailer::new(
            Path::new(dir),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_mailers_build_with_the_ring_provider() {
        // Building the TLS parameters needs a rustls crypto provider; this fails if the
        // ring feature is lost and no provider is installed.
        for tls in [SmtpTls::Starttls, SmtpTls::Tls] {
            let mailer = SmtpMailer::new(
                "smtp.example.com",
                587,
                tls,
                Some(("user".into(), "pw".into())),
            );
            assert!(mailer.is_ok(), "{tls:?}: {mailer:?}");
        }
    }

    #[test]
    fn secrets_come_from_files_without_their_trailing_newline_or_from_the_environment() {
        let dir = std::env::temp_dir().join(format!("firedrill-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret\n").ok();
        assert_eq!(
            resolve_secret(&Secret::File(file.clone())).ok().as_deref(),
            Some("s3cret")
        );
        std::fs::remove_dir_all(&dir).ok();
        let missing = resolve_secret(&Secret::Env("FIREDRILL_TEST_SURELY_UNSET_VAR".into()));
        assert!(matches!(missing, Err(SecretError::MissingEnv(_))));
        let from_path = resolve_secret(&Secret::Env("PATH".into()));
        assert!(from_path.is_ok_and(|path| !path.is_empty()));
    }

    #[test]
    fn a_missing_secret_names_only_its_variable_and_the_smtp_password_names_its_field() {
        let secret = Secret::Env("FIREDRILL_TEST_SURELY_UNSET_VAR".into());
        let missing = resolve_secret(&secret).err().map(|err| err.to_string());
        assert_eq!(
            missing.as_deref(),
            Some("environment variable FIREDRILL_TEST_SURELY_UNSET_VAR is not set")
        );
        let transport = EmailTransport::Smtp {
            host: "localhost".into(),
            port: 25,
            tls: SmtpTls::None,
            username: Some("firedrill".into()),
            password: Some(secret),
        };
        let smtp = mailer_from_config(&transport)
            .err()
            .map(|err| err.to_string());
        assert_eq!(
            smtp.as_deref(),
            Some("smtp password: environment variable FIREDRILL_TEST_SURELY_UNSET_VAR is not set")
        );
    }
}
