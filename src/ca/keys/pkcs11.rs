//! The PKCS#11 key store: CA key pairs made and kept on a token (an HSM), signed with
//! through the `cryptoki` crate. The private key never leaves the token (CKA_SENSITIVE
//! true, CKA_EXTRACTABLE false); paypki keeps only a reference to it (`TokenKeyRef`, in
//! `keys/<name>.key.toml`) and reads the PIN from an environment variable or a 0600 file
//! at start-up.
//!
//! One module is initialized once per process and shared by every key on it; each token
//! keeps a small pool of logged-in sessions for concurrent signing. When the token goes
//! away (removed, module failing), signing fails with [`KeyError::Unavailable`] and the
//! next attempt (at most one a second) finalizes and re-initializes the module, finds the
//! token again by its label, logs in and finds the key by its label: the CA recovers by
//! itself when the token is back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{CaSigner, KeyError, KeyLocation, SignatureScheme};
use crate::ca::CaError;
use crate::model::KeyAlgorithm;

/// The environment variable the token PIN is read from unless a reference names another.
pub const PIN_ENV: &str = "PAYPKI_PKCS11_PIN";

/// Sessions a token keeps open for concurrent signing.
const MAX_SESSIONS: usize = 8;
/// How long a signer waits for a free session before answering "unavailable".
const SESSION_WAIT: Duration = Duration::from_secs(10);
/// The least time between two attempts to re-initialize a failed module.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// RSA keys generated on a token.
const RSA_BITS: u64 = 3072;

/// Where a token key is: written by paypki into `keys/<name>.key.toml`, editable by an
/// operator (e.g. to point at the same key in another module's path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyRef {
    /// Always `pkcs11`.
    pub store: String,
    /// The PKCS#11 module (shared library) path.
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The key pair's CKA_LABEL.
    pub label: String,
    /// The key pair's CKA_ID, hex, when set: then the key must have both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The environment variable holding the PIN (default `PAYPKI_PKCS11_PIN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
    /// A file (0600 or stricter) holding the PIN; preferred over `pin_env` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// The signature algorithm, when not the key's default: `rsa-pss-sha256` for an RSA
    /// key that signs with RSASSA-PSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<SignatureScheme>,
}

impl TokenKeyRef {
    /// Reads a reference file.
    pub fn read(path: &Path) -> Result<Self, CaError> {
        let text = std::fs::read_to_string(path).map_err(|e| CaError::io(path, e))?;
        let reference: TokenKeyRef = toml::from_str(&text)
            .map_err(|e| CaError::Setting(format!("{}: {e}", path.display())))?;
        if reference.store != "pkcs11" {
            return Err(CaError::Setting(format!(
                "{}: store = {:?} is not a key store paypki knows (pkcs11)",
                path.display(),
                reference.store
            )));
        }
        Ok(reference)
    }

    /// Writes it to a new file (never overwrites).
    pub(super) fn write(&self, path: &Path) -> Result<(), CaError> {
        let text = toml::to_string(self).map_err(|e| CaError::Setting(e.to_string()))?;
        let text = format!(
            "# A CA key on a PKCS#11 token; written by paypki. The PIN is read from the\n# environment variable pin_env (default {PIN_ENV}) or the 0600 file pin_file.\n{text}"
        );
        super::write_private_file(path, text.as_bytes())
    }

    fn id_bytes(&self) -> Result<Option<Vec<u8>>, CaError> {
        self.id
            .as_deref()
            .map(|id| {
                hex::decode(id).map_err(|_| CaError::Setting(format!("key id {id:?} is not hex")))
            })
            .transpose()
    }

    /// Reads the PIN: from `pin_file` (which must not be readable by others) or the
    /// environment variable. The PIN never appears in a message.
    fn pin(&self) -> Result<Zeroizing<String>, CaError> {
        if let Some(path) = &self.pin_file {
            use std::os::unix::fs::PermissionsExt;
            let metadata = std::fs::metadata(path).map_err(|e| CaError::io(path, e))?;
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(CaError::Key(format!(
                    "{}: the PIN file must be readable by its owner only (chmod 600)",
                    path.display()
                )));
            }
            let text =
                Zeroizing::new(std::fs::read_to_string(path).map_err(|e| CaError::io(path, e))?);
            return Ok(Zeroizing::new(
                text.trim_end_matches(['\r', '\n']).to_string(),
            ));
        }
        let var = self.pin_env.as_deref().unwrap_or(PIN_ENV);
        match std::env::var(var) {
            Ok(pin) if !pin.is_empty() => Ok(Zeroizing::new(pin)),
            _ => Err(CaError::Key(format!(
                "the CA key {:?} is on PKCS#11 token {:?}: set {var} to the token's user PIN",
                self.label, self.token
            ))),
        }
    }
}

/// Where `init` (or a rollover, or a responder renewal) makes keys on a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The PKCS#11 module path.
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The environment variable holding the PIN.
    pub pin_env: String,
    /// RSA keys made or adopted here sign with RSASSA-PSS instead of PKCS#1 v1.5.
    pub rsa_pss: bool,
}

impl TokenConfig {
    /// A reference to the key pair labelled `label` on this token.
    pub fn reference(&self, label: &str) -> TokenKeyRef {
        TokenKeyRef {
            store: "pkcs11".into(),
            module: self.module.clone(),
            token: self.token.clone(),
            label: label.into(),
            id: None,
            pin_env: (self.pin_env != PIN_ENV).then(|| self.pin_env.clone()),
            pin_file: None,
            scheme: None,
        }
    }

    /// The reference of key `label` of `algorithm`: RSA keys sign with PSS when chosen.
    fn reference_for(&self, label: &str, algorithm: KeyAlgorithm) -> TokenKeyRef {
        let mut reference = self.reference(label);
        if self.rsa_pss && algorithm == KeyAlgorithm::Rsa {
            reference.scheme = Some(SignatureScheme::RsaPssSha256);
        }
        reference
    }

    /// The configuration of the token an existing reference points at (a rollover makes
    /// the new CA's keys where the old CA's are).
    pub fn of(reference: &TokenKeyRef) -> Self {
        TokenConfig {
            module: reference.module.clone(),
            token: reference.token.clone(),
            pin_env: reference
                .pin_env
                .clone()
                .unwrap_or_else(|| PIN_ENV.to_string()),
            rsa_pss: reference.scheme == Some(SignatureScheme::RsaPssSha256),
        }
    }
}

/// A loaded module, shared by every token and key on it in this process.
struct Module {
    path: PathBuf,
    context: Pkcs11,
    /// Signing holds it for reading; re-initializing (which invalidates every session)
    /// for writing, so no call is in flight across C_Finalize.
    state: RwLock<ModuleState>,
}

struct ModuleState {
    initialized: bool,
    /// Bumped at every finalize: sessions and handles of an older generation are void.
    generation: u64,
    last_attempt: Option<Instant>,
    last_error: String,
}

fn modules() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    // PKCS#11 is initialized once per process per module (C_Initialize), so the loaded
    // modules are process-wide.
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

/// Tokens by (module path, token label).
type TokenTable = HashMap<(PathBuf, String), Arc<Token>>;

fn tokens() -> &'static Mutex<TokenTable> {
    static TOKENS: OnceLock<Mutex<TokenTable>> = OnceLock::new();
    TOKENS.get_or_init(Default::default)
}

fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{} in C_{function:?}", ckr_name(*rv)),
        CkError::LibraryLoading(e) => format!("cannot load the module: {e}"),
        other => other.to_string(),
    }
}

/// `CKR_PIN_INCORRECT` from `PinIncorrect`: the names operators look up in manuals.
fn ckr_name(rv: RvError) -> String {
    let camel = format!("{rv:?}");
    let mut out = String::from("CKR");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Errors that mean the token or module went away, not that the request was wrong.
fn is_gone(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::UserNotLoggedIn
                | RvError::CryptokiNotInitialized
                | RvError::GeneralError
                | RvError::FunctionFailed
                | RvError::SlotIdInvalid,
            _
        )
    )
}

/// The PKCS#11 modules of this process that lost their token and have not got it back,
/// with why: for `/healthz`. Nothing is probed: this is what the last signature saw.
pub fn unavailable_modules() -> Vec<String> {
    let loaded = modules().lock().unwrap_or_else(PoisonError::into_inner);
    loaded
        .values()
        .filter_map(|module| {
            let state = module.state.read().unwrap_or_else(PoisonError::into_inner);
            (!state.initialized).then(|| {
                format!(
                    "a CA key is unavailable: {} ({})",
                    state.last_error,
                    module.path.display()
                )
            })
        })
        .collect()
}

impl Module {
    fn load(path: &Path) -> Result<Arc<Module>, CaError> {
        let mut loaded = modules().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = loaded.get(path) {
            return Ok(module.clone());
        }
        if !path.is_file() {
            return Err(CaError::Key(format!(
                "the PKCS#11 module {} does not exist (install it, or fix `module` in the key's .key.toml)",
                path.display()
            )));
        }
        let context = Pkcs11::new(path).map_err(|e| {
            CaError::Key(format!(
                "cannot load the PKCS#11 module {}: {}",
                path.display(),
                describe(&e)
            ))
        })?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .or_else(|e| match e {
                CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _) => Ok(()),
                e => Err(e),
            })
            .map_err(|e| {
                CaError::Key(format!(
                    "the PKCS#11 module {} failed to initialize: {}",
                    path.display(),
                    describe(&e)
                ))
            })?;
        let module = Arc::new(Module {
            path: path.to_path_buf(),
            context,
            state: RwLock::new(ModuleState {
                initialized: true,
                generation: 0,
                last_attempt: None,
                last_error: String::new(),
            }),
        });
        loaded.insert(path.to_path_buf(), module.clone());
        Ok(module)
    }

    /// Finalizes the module after a failure seen in `generation` (unless someone did
    /// already): every session of every token on it is void from now on.
    fn invalidate(&self, generation: u64, why: String) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.generation != generation || !state.initialized {
            return;
        }
        tracing::warn!(module = %self.path.display(), error = %why, "PKCS#11 token lost; will re-initialize the module");
        // The result does not matter: the module is initialized afresh either way.
        let _ = self.context.clone().finalize();
        state.initialized = false;
        state.generation += 1;
        state.last_error = why;
    }

    /// Re-initializes a finalized module, at most once per [`RETRY_INTERVAL`].
    fn reinitialize(&self) -> Result<(), KeyError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.initialized {
            return Ok(());
        }
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < RETRY_INTERVAL)
        {
            return Err(KeyError::Unavailable(state.last_error.clone()));
        }
        state.last_attempt = Some(Instant::now());
        match self
            .context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                state.initialized = true;
                tracing::info!(module = %self.path.display(), "PKCS#11 module re-initialized");
                Ok(())
            }
            Err(e) => {
                state.last_error =
                    format!("the PKCS#11 module failed to initialize: {}", describe(&e));
                Err(KeyError::Unavailable(state.last_error.clone()))
            }
        }
    }
}

/// A token: its slot, a pool of logged-in sessions and the key handles found on it.
struct Token {
    module: Arc<Module>,
    label: String,
    pin: Zeroizing<String>,
    pool: Mutex<Pool>,
    returned: Condvar,
}

#[derive(Default)]
struct Pool {
    /// The module generation the slot, sessions and handles belong to.
    generation: Option<u64>,
    slot: Option<Slot>,
    idle: Vec<Session>,
    open: usize,
    handles: HashMap<(String, Option<Vec<u8>>), ObjectHandle>,
}

/// A session checked out of a token's pool; returned by [`Token::give_back`].
struct Lease {
    session: Session,
    generation: u64,
}

impl Token {
    fn get(reference: &TokenKeyRef) -> Result<Arc<Token>, CaError> {
        let module = Module::load(&reference.module)?;
        let key = (reference.module.clone(), reference.token.clone());
        let mut all = tokens().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = all.get(&key) {
            return Ok(token.clone());
        }
        let token = Arc::new(Token {
            module,
            label: reference.token.clone(),
            pin: reference.pin()?,
            pool: Mutex::new(Pool::default()),
            returned: Condvar::new(),
        });
        all.insert(key, token.clone());
        Ok(token)
    }

    /// The slot holding the token with our label.
    fn find_slot(&self) -> Result<Slot, CkError> {
        for slot in self.module.context.get_slots_with_initialized_token()? {
            if self.module.context.get_token_info(slot)?.label().trim_end() == self.label {
                return Ok(slot);
            }
        }
        Err(CkError::Pkcs11(
            RvError::TokenNotPresent,
            cryptoki::context::Function::GetTokenInfo,
        ))
    }

    /// A logged-in session, from the pool or newly opened; re-initializes the module
    /// first when it was finalized after a failure. `read_write` sessions (for key
    /// generation) are never pooled.
    fn lease(&self, read_write: bool) -> Result<Lease, KeyError> {
        loop {
            let generation = {
                let state = self
                    .module
                    .state
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                state.initialized.then_some(state.generation)
            };
            let Some(generation) = generation else {
                self.module.reinitialize()?;
                continue;
            };
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.generation != Some(generation) {
                // Sessions of a finalized module are already gone; forget them.
                *pool = Pool {
                    generation: Some(generation),
                    ..Pool::default()
                };
            }
            if !read_write {
                if let Some(session) = pool.idle.pop() {
                    return Ok(Lease {
                        session,
                        generation,
                    });
                }
                if pool.open >= MAX_SESSIONS {
                    let (guard, timeout) = self
                        .returned
                        .wait_timeout(pool, SESSION_WAIT)
                        .unwrap_or_else(PoisonError::into_inner);
                    drop(guard);
                    if timeout.timed_out() {
                        return Err(KeyError::Unavailable(format!(
                            "all {MAX_SESSIONS} sessions of token {:?} stayed busy",
                            self.label
                        )));
                    }
                    continue;
                }
            }
            let opened = self.open_session(&mut pool, read_write);
            return match opened {
                Ok(session) => {
                    if !read_write {
                        pool.open += 1;
                    }
                    Ok(Lease {
                        session,
                        generation,
                    })
                }
                Err(e) => {
                    drop(pool);
                    Err(self.failed(generation, &e))
                }
            };
        }
    }

    fn open_session(&self, pool: &mut Pool, read_write: bool) -> Result<Session, CkError> {
        let slot = match pool.slot {
            Some(slot) => slot,
            None => {
                let slot = self.find_slot()?;
                pool.slot = Some(slot);
                slot
            }
        };
        let session = if read_write {
            self.module.context.open_rw_session(slot)?
        } else {
            self.module.context.open_ro_session(slot)?
        };
        let pin = AuthPin::from(self.pin.as_str().to_string());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(e),
        }
    }

    /// Maps a failure: when the token went away, finalizes the module so the next
    /// attempt starts afresh.
    fn failed(&self, generation: u64, e: &CkError) -> KeyError {
        let why = format!("token {:?}: {}", self.label, describe(e));
        if is_gone(e) {
            self.module.invalidate(generation, why.clone());
            KeyError::Unavailable(why)
        } else {
            KeyError::Failed(why)
        }
    }

    fn give_back(&self, lease: Lease) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.generation == Some(lease.generation) {
            pool.idle.push(lease.session);
            self.returned.notify_one();
        }
    }

    /// Drops a session that failed (its slot in the pool is freed).
    fn discard(&self, lease: Lease) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.generation == Some(lease.generation) {
            pool.open = pool.open.saturating_sub(1);
            self.returned.notify_one();
        }
        drop(pool);
        // Closing a session of a finalized module fails; nothing to do about it.
        let _ = lease.session.close();
    }

    /// The handle of the private key labelled `label` (and with CKA_ID `id`), found once
    /// per module generation.
    fn private_key(
        &self,
        session: &Session,
        generation: u64,
        label: &str,
        id: Option<&[u8]>,
    ) -> Result<ObjectHandle, KeyLookup> {
        let key = (label.to_string(), id.map(<[u8]>::to_vec));
        {
            let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.generation == Some(generation) {
                if let Some(handle) = pool.handles.get(&key) {
                    return Ok(*handle);
                }
            }
        }
        let handle = find_one(session, ObjectClass::PRIVATE_KEY, label, id)?;
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.generation == Some(generation) {
            pool.handles.insert(key, handle);
        }
        Ok(handle)
    }
}

/// Why a key could not be found.
enum KeyLookup {
    Token(CkError),
    Missing,
    Ambiguous(usize),
}

impl From<CkError> for KeyLookup {
    fn from(e: CkError) -> Self {
        KeyLookup::Token(e)
    }
}

fn find_one(
    session: &Session,
    class: ObjectClass,
    label: &str,
    id: Option<&[u8]>,
) -> Result<ObjectHandle, KeyLookup> {
    let mut template = vec![
        Attribute::Class(class),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    if let Some(id) = id {
        template.push(Attribute::Id(id.to_vec()));
    }
    let found = session.find_objects(&template)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(KeyLookup::Missing),
        many => Err(KeyLookup::Ambiguous(many.len())),
    }
}

/// A CA key pair on a token.
pub(super) struct TokenKey {
    token: Arc<Token>,
    reference: TokenKeyRef,
    id: Option<Vec<u8>>,
    algorithm: KeyAlgorithm,
    scheme: SignatureScheme,
    spki: Vec<u8>,
    raw_public_key: Vec<u8>,
}

impl TokenKey {
    /// Opens the key a reference names: the module loads, the token is found by label,
    /// the PIN logs in, the private key is found by label (and id) and must be able to
    /// sign. The public key comes from the token's public object of the same label, or
    /// `expected_spki` when there is none. Every failure says which of these failed.
    pub(super) fn open(
        reference: &TokenKeyRef,
        expected_spki: Option<&[u8]>,
    ) -> Result<Self, CaError> {
        let token = Token::get(reference)?;
        let id = reference.id_bytes()?;
        let lease = token.lease(false).map_err(|e| open_error(reference, e))?;
        let result = Self::inspect(&token, &lease, reference, id.as_deref(), expected_spki);
        token.give_back(lease);
        let (algorithm, spki) = result?;
        let scheme = reference
            .scheme
            .unwrap_or(SignatureScheme::default_for(algorithm));
        if !scheme.fits(algorithm) {
            return Err(CaError::Setting(format!(
                "the key {:?} on token {:?} is a {algorithm} key, which cannot sign with {scheme:?}",
                reference.label, reference.token
            )));
        }
        Ok(TokenKey {
            token,
            reference: reference.clone(),
            id,
            algorithm,
            scheme,
            raw_public_key: super::raw_public_key(&spki),
            spki,
        })
    }

    fn inspect(
        token: &Token,
        lease: &Lease,
        reference: &TokenKeyRef,
        id: Option<&[u8]>,
        expected_spki: Option<&[u8]>,
    ) -> Result<(KeyAlgorithm, Vec<u8>), CaError> {
        let session = &lease.session;
        let what = format!(
            "key {:?} on PKCS#11 token {:?}",
            reference.label, reference.token
        );
        let handle = token
            .private_key(session, lease.generation, &reference.label, id)
            .map_err(|e| match e {
                KeyLookup::Missing => CaError::Key(format!(
                    "there is no private {what} (check `label` in its .key.toml, or `pkcs11-tool --list-objects`)"
                )),
                KeyLookup::Ambiguous(n) => CaError::Key(format!(
                    "{n} private keys match the {what}: give the key an id"
                )),
                KeyLookup::Token(e) => CaError::Key(format!("{what}: {}", describe(&e))),
            })?;
        let attributes = session
            .get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::Sign,
                    AttributeType::EcParams,
                ],
            )
            .map_err(|e| CaError::Key(format!("{what}: {}", describe(&e))))?;
        let mut key_type = None;
        let mut can_sign = false;
        let mut ec_params = None;
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(sign) => can_sign = sign,
                Attribute::EcParams(params) => ec_params = Some(params),
                _ => {}
            }
        }
        if !can_sign {
            return Err(CaError::Key(format!(
                "the {what} may not sign (CKA_SIGN is false): a CA key must be a signing key"
            )));
        }
        let algorithm = match (key_type, ec_params.as_deref()) {
            (Some(t), Some(params)) if t == KeyType::EC => match curve_of(params) {
                Some(curve) => curve,
                None => {
                    return Err(CaError::Key(format!(
                        "the {what} is on an elliptic curve paypki does not sign with (use P-256 or P-384)"
                    )))
                }
            },
            (Some(t), _) if t == KeyType::RSA => KeyAlgorithm::Rsa,
            (Some(t), _) => {
                return Err(CaError::Key(format!(
                    "the {what} is a {t} key: a CA key must be EC (P-256, P-384) or RSA"
                )))
            }
            (None, _) => {
                return Err(CaError::Key(format!("the {what} has no key type")));
            }
        };
        let spki = match public_key_spki(session, reference, id, algorithm) {
            Ok(spki) => spki,
            Err(e) => match expected_spki {
                Some(expected) => expected.to_vec(),
                None => return Err(CaError::Key(format!("{what}: {e}"))),
            },
        };
        Ok((algorithm, spki))
    }

    /// Generates a key pair on the token: private half sensitive and not extractable,
    /// both halves token objects labelled `label`.
    pub(super) fn generate(
        config: &TokenConfig,
        algorithm: KeyAlgorithm,
        label: &str,
    ) -> Result<(Self, TokenKeyRef), CaError> {
        let reference = config.reference_for(label, algorithm);
        let token = Token::get(&reference)?;
        let lease = token.lease(true).map_err(|e| open_error(&reference, e))?;
        let session = &lease.session;
        if find_one(session, ObjectClass::PRIVATE_KEY, label, None).is_ok() {
            return Err(CaError::Key(format!(
                "token {:?} already holds a key labelled {label:?}: nothing was generated",
                config.token
            )));
        }
        let common = vec![
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        // A CA key signs and does nothing else.
        let mut public = common.clone();
        public.extend([
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
        ]);
        let mut private = common;
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        let mechanism = match algorithm {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                public.push(Attribute::EcParams(named_curve_der(algorithm)?));
                Mechanism::EccKeyPairGen
            }
            KeyAlgorithm::Rsa => {
                public.push(Attribute::ModulusBits(RSA_BITS.into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeyAlgorithm::Ed25519 => {
                return Err(CaError::Setting(
                    "token keys are ECDSA P-256, P-384 or RSA: choose --key-alg ecdsa-p256, ecdsa-p384 or rsa".into(),
                ))
            }
            KeyAlgorithm::Sm2 => return Err(CaError::Setting(super::SM2_ON_TOKEN.into())),
        };
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| {
                CaError::Key(format!(
                    "token {:?} could not generate a {algorithm} key pair: {}",
                    config.token,
                    describe(&e)
                ))
            })?;
        let spki = public_key_spki(session, &reference, None, algorithm)
            .map_err(|e| CaError::Key(format!("the generated key {label:?}: {e}")))?;
        drop(lease);
        Ok((
            TokenKey {
                token,
                reference: reference.clone(),
                id: None,
                algorithm,
                scheme: reference
                    .scheme
                    .unwrap_or(SignatureScheme::default_for(algorithm)),
                raw_public_key: super::raw_public_key(&spki),
                spki,
            },
            reference,
        ))
    }

    fn sign_with(&self, lease: &Lease, message: &[u8]) -> Result<Vec<u8>, Failure> {
        let handle = self
            .token
            .private_key(
                &lease.session,
                lease.generation,
                &self.reference.label,
                self.id.as_deref(),
            )
            .map_err(|e| match e {
                KeyLookup::Token(e) => Failure::Token(e),
                // The token answers, but the key is not there (another token put in its
                // place?): unavailable until the right one is back.
                KeyLookup::Missing | KeyLookup::Ambiguous(_) => Failure::Missing,
            })?;
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let digest = if self.algorithm == KeyAlgorithm::EcdsaP256 {
                    ring::digest::digest(&ring::digest::SHA256, message)
                } else {
                    ring::digest::digest(&ring::digest::SHA384, message)
                };
                // CKM_ECDSA signs a digest and returns r‖s; X.509 wants ECDSA-Sig-Value
                // (RFC 5480 §2.2, RFC 3279 §2.2.3).
                let raw = lease
                    .session
                    .sign(&Mechanism::Ecdsa, handle, digest.as_ref())
                    .map_err(Failure::Token)?;
                ecdsa_signature_der(&raw).map_err(Failure::Encoding)
            }
            KeyAlgorithm::Rsa if self.scheme == SignatureScheme::RsaPssSha256 => {
                // RFC 4055 §3.1 parameters: SHA-256, MGF1 with SHA-256, 32-byte salt.
                let params = cryptoki::mechanism::rsa::PkcsPssParams {
                    hash_alg: cryptoki::mechanism::MechanismType::SHA256,
                    mgf: cryptoki::mechanism::rsa::PkcsMgfType::MGF1_SHA256,
                    s_len: 32u64.into(),
                };
                lease
                    .session
                    .sign(&Mechanism::Sha256RsaPkcsPss(params), handle, message)
                    .map_err(Failure::Token)
            }
            KeyAlgorithm::Rsa => lease
                .session
                .sign(&Mechanism::Sha256RsaPkcs, handle, message)
                .map_err(Failure::Token),
            KeyAlgorithm::Ed25519 => Err(Failure::Encoding(
                "Ed25519 token keys are not supported".into(),
            )),
            KeyAlgorithm::Sm2 => Err(Failure::Encoding(super::SM2_ON_TOKEN.into())),
        }
    }
}

enum Failure {
    Token(CkError),
    Missing,
    Encoding(String),
}

fn open_error(reference: &TokenKeyRef, e: KeyError) -> CaError {
    let why = match e {
        KeyError::Unavailable(why) | KeyError::Failed(why) => why,
    };
    let hint = if why.contains("CKR_PIN_INCORRECT") {
        format!(
            " (the PIN was refused: check {})",
            reference
                .pin_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| reference.pin_env.clone().unwrap_or_else(|| PIN_ENV.into()))
        )
    } else if why.contains("CKR_TOKEN_NOT_PRESENT") {
        format!(
            " (no token labelled {:?} in {}: `pkcs11-tool --module {} --list-slots` shows the tokens)",
            reference.token,
            reference.module.display(),
            reference.module.display()
        )
    } else if why.contains("CKR_PIN_LOCKED") {
        " (the token locked the PIN after too many wrong attempts)".into()
    } else {
        String::new()
    };
    CaError::Key(format!("{why}{hint}"))
}

impl CaSigner for TokenKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
    fn subject_public_key_info(&self) -> &[u8] {
        &self.spki
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let lease = self.token.lease(false)?;
        match self.sign_with(&lease, message) {
            // Every token signature is verified with the configured public key before it
            // is used: a different key under the same label (another token put in the
            // slot) or a faulty signature (RSA fault attacks) never leaves the CA.
            Ok(signature)
                if super::verifies(self.scheme, &self.raw_public_key, message, &signature) =>
            {
                self.token.give_back(lease);
                Ok(signature)
            }
            Ok(_) => {
                let generation = lease.generation;
                self.token.discard(lease);
                let why = format!(
                    "the key labelled {:?} on token {:?} signed, but not as the configured key: the signature was discarded",
                    self.reference.label, self.reference.token
                );
                self.token.module.invalidate(generation, why.clone());
                Err(KeyError::Unavailable(why))
            }
            Err(Failure::Token(e)) => {
                let generation = lease.generation;
                self.token.discard(lease);
                Err(self.token.failed(generation, &e))
            }
            Err(Failure::Missing) => {
                let generation = lease.generation;
                self.token.discard(lease);
                let why = format!(
                    "token {:?} no longer holds the key {:?}",
                    self.reference.token, self.reference.label
                );
                self.token.module.invalidate(generation, why.clone());
                Err(KeyError::Unavailable(why))
            }
            Err(Failure::Encoding(why)) => {
                self.token.give_back(lease);
                Err(KeyError::Failed(why))
            }
        }
    }
    fn location(&self) -> KeyLocation {
        KeyLocation::Pkcs11(self.reference.clone())
    }
}

/// The named curve of DER ECParameters.
fn curve_of(params: &[u8]) -> Option<KeyAlgorithm> {
    let oid = der::asn1::ObjectIdentifier::from_der(params).ok()?;
    match oid.to_string().as_str() {
        "1.2.840.10045.3.1.7" => Some(KeyAlgorithm::EcdsaP256),
        "1.3.132.0.34" => Some(KeyAlgorithm::EcdsaP384),
        _ => None,
    }
}

fn named_curve_der(algorithm: KeyAlgorithm) -> Result<Vec<u8>, CaError> {
    let oid = match algorithm {
        KeyAlgorithm::EcdsaP384 => "1.3.132.0.34",
        _ => "1.2.840.10045.3.1.7",
    };
    der::asn1::ObjectIdentifier::new(oid)
        .map_err(|e| CaError::Build(e.to_string()))?
        .to_der()
        .map_err(|e| CaError::Build(e.to_string()))
}

/// The SubjectPublicKeyInfo of the public key object labelled like the private key.
fn public_key_spki(
    session: &Session,
    reference: &TokenKeyRef,
    id: Option<&[u8]>,
    algorithm: KeyAlgorithm,
) -> Result<Vec<u8>, String> {
    let handle =
        find_one(session, ObjectClass::PUBLIC_KEY, &reference.label, id).map_err(|e| match e {
            KeyLookup::Missing => "the token has no public key object with its label".to_string(),
            KeyLookup::Ambiguous(n) => format!("{n} public keys carry its label"),
            KeyLookup::Token(e) => describe(&e),
        })?;
    let wanted = match algorithm {
        KeyAlgorithm::Rsa => vec![AttributeType::Modulus, AttributeType::PublicExponent],
        _ => vec![AttributeType::EcPoint],
    };
    let attributes = session
        .get_attributes(handle, &wanted)
        .map_err(|e| describe(&e))?;
    let mut modulus = None;
    let mut exponent = None;
    let mut point = None;
    for attribute in attributes {
        match attribute {
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let encode = |e: der::Error| e.to_string();
    match algorithm {
        KeyAlgorithm::Rsa => {
            let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
                return Err("the public key has no modulus or exponent".into());
            };
            let rsa_public_key = RsaPublicKey {
                modulus: der::asn1::UintRef::new(&modulus).map_err(encode)?,
                public_exponent: der::asn1::UintRef::new(&exponent).map_err(encode)?,
            }
            .to_der()
            .map_err(encode)?;
            spki_der(
                "1.2.840.113549.1.1.1",
                Some(der::Any::from(der::asn1::Null)),
                &rsa_public_key,
            )
        }
        _ => {
            let point = point.ok_or("the public key has no EC point")?;
            // CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 v2.40
            // §2.3.3); some modules return the bare point.
            let point = match der::asn1::OctetString::from_der(&point) {
                Ok(octets) => octets.as_bytes().to_vec(),
                Err(_) => point,
            };
            let curve = der::asn1::ObjectIdentifier::from_der(
                &named_curve_der(algorithm).map_err(|e| e.to_string())?,
            )
            .map_err(encode)?;
            spki_der("1.2.840.10045.2.1", Some(der::Any::from(&curve)), &point)
        }
    }
}

#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: der::asn1::UintRef<'a>,
    public_exponent: der::asn1::UintRef<'a>,
}

#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: der::asn1::UintRef<'a>,
    s: der::asn1::UintRef<'a>,
}

fn spki_der(algorithm: &str, parameters: Option<der::Any>, key: &[u8]) -> Result<Vec<u8>, String> {
    spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: der::asn1::ObjectIdentifier::new(algorithm).map_err(|e| e.to_string())?,
            parameters,
        },
        subject_public_key: der::asn1::BitString::from_bytes(key).map_err(|e| e.to_string())?,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// r‖s (two equal halves, as CKM_ECDSA returns) to DER ECDSA-Sig-Value.
fn ecdsa_signature_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(format!(
            "the token returned a {}-byte ECDSA signature",
            raw.len()
        ));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    EcdsaSigValue {
        r: der::asn1::UintRef::new(r).map_err(|e| e.to_string())?,
        s: der::asn1::UintRef::new(s).map_err(|e| e.to_string())?,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_r_s_become_der_with_minimal_positive_integers() {
        // r has its high bit set (needs a 0x00), s has leading zeros (dropped).
        let mut raw = vec![0x80; 32];
        raw.extend([0x00, 0x00, 0x01]);
        raw.extend(vec![0x02; 29]);
        let der = ecdsa_signature_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x43, 0x02, 0x21, 0x00]);
        assert_eq!(&der[37..40], &[0x02, 0x1e, 0x01]);
        assert!(ecdsa_signature_der(&[1, 2, 3]).is_err());
        assert!(ecdsa_signature_der(&[]).is_err());
    }

    #[test]
    fn return_value_names_read_like_the_specification() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(ckr_name(RvError::TokenNotPresent), "CKR_TOKEN_NOT_PRESENT");
    }

    #[test]
    fn references_round_trip_and_name_no_pin() {
        let config = TokenConfig {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token: "paypki".into(),
            pin_env: PIN_ENV.into(),
            rsa_pss: false,
        };
        let reference = config.reference("paypki-issuing-1");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issuing.key.toml");
        reference.write(&path).unwrap();
        assert_eq!(TokenKeyRef::read(&path).unwrap(), reference);
        assert_eq!(TokenConfig::of(&reference), config);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("pin_env ="), "{text}");
        std::fs::write(&path, text.replace("\"pkcs11\"", "\"hsm\"")).unwrap();
        assert!(TokenKeyRef::read(&path).is_err());
    }
}
