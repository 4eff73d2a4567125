//! What the fuzz targets share: the shipped policies and a small CA with participants,
//! loaded once per process from `fuzz/fixtures/` (made by `fuzz/make-seeds`, which also
//! wrote the seed corpora from it, so seeds carry certificates, serials and signatures
//! this CA knows).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use paypki::ca::CertificateAuthority;
use paypki::config::DataDir;
use paypki::ocsp::OcspResponder;
use paypki::ra::{Policies, RegistrationAuthority};
use paypki::store::{SharedStore, SledStore};
use paypki::verify::Verifier;
use time::OffsetDateTime;

/// The fuzz crate's directory.
pub fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `policies/` of the repository: the shipped role policies.
pub fn policies_dir() -> PathBuf {
    fuzz_dir().join("../policies")
}

/// The shipped policies, parsed once.
pub fn policies() -> &'static Arc<Policies> {
    static POLICIES: OnceLock<Arc<Policies>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        Arc::new(Policies::load(&policies_dir()).expect("the shipped policies load"))
    })
}

/// The fixture CA, its store (a copy), and the services built on them as `serve` builds
/// them.
pub struct World {
    /// The CA (two issuing CAs: the fixture rolled over once).
    pub ca: Arc<CertificateAuthority>,
    /// The store, with the participants' records (some revoked, one on hold).
    pub store: SharedStore,
    /// The registration authority.
    pub ra: RegistrationAuthority,
    /// The OCSP responder.
    pub ocsp: OcspResponder,
    /// The verification service.
    pub verifier: Verifier,
    /// When the fixture was made: renewal proofs in the seeds were made at this time.
    pub made_at: OffsetDateTime,
    /// The participants' certificates (DER).
    pub participants: Vec<Vec<u8>>,
}

/// Small caches: a fuzzer sees many distinct inputs, and a full cache starts over.
const CACHE: usize = 64;

/// Built on first use; lives for the process. The store is a copy of the fixture's in a
/// temporary directory (sled writes to it), removed by the next process that finds its
/// owner gone.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // Batches use rayon: keep the fuzzer on one core.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
        let fixtures = fuzz_dir().join("fixtures");
        let dir = private_copy(&fixtures.join("ca-data"));
        let data = DataDir::new(&dir);
        let ca = Arc::new(CertificateAuthority::load(&data, None).expect("fixture CA loads"));
        let store: SharedStore =
            std::sync::Arc::new(SledStore::open(&data.database()).expect("fixture store opens"));
        let ra = RegistrationAuthority::new(policies().clone(), ca.clone(), store.clone());
        let ocsp = OcspResponder::new(ca.clone(), store.clone(), time::Duration::hours(1), CACHE)
            .expect("OCSP responder");
        let verifier = Verifier::new(ca.clone(), store.clone(), policies().clone(), CACHE);
        let made_at: i64 = std::fs::read_to_string(fixtures.join("made-at"))
            .expect("fixtures/made-at")
            .trim()
            .parse()
            .expect("unix seconds");
        let mut participants = Vec::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures.join("participants"))
            .expect("fixtures/participants")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".crt.der"))
            .collect();
        names.sort();
        for path in names {
            participants.push(std::fs::read(path).expect("participant certificate"));
        }
        World {
            ca,
            store,
            ra,
            ocsp,
            verifier,
            made_at: OffsetDateTime::from_unix_timestamp(made_at).expect("a time"),
            participants,
        }
    })
}

const PREFIX: &str = "paypki-fuzz-world-";

/// Copies the fixture data directory to `$TMPDIR/paypki-fuzz-world-<pid>`, after removing
/// copies whose process has ended.
fn private_copy(from: &Path) -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let to = tmp.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    copy_tree(from, &to);
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read the fixture") {
        let entry = entry.expect("a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// Splits off the first byte, which some targets use to pick what the rest is.
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(first, rest)| (*first, rest))
}

/// A DER TLV with a one-octet tag.
pub fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let octets = length.to_be_bytes();
        let skip = octets.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (octets.len() - skip) as u8);
        out.extend_from_slice(&octets[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A PKCS#10 request around `info` (a CertificationRequestInfo), signed with Ed25519 by
/// the key whose seed is 32 octets of 7 (`fuzz/make-seeds` makes its seeds' infos with
/// the same key), so a mutated info still carries a good signature.
pub fn ed25519_signed_csr(info: &[u8]) -> Vec<u8> {
    static KEY: OnceLock<ring::signature::Ed25519KeyPair> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("a key")
    });
    let signature = key.sign(info);
    // AlgorithmIdentifier { id-Ed25519 (1.3.101.112) }, no parameters (RFC 8410).
    let algorithm = der_tlv(0x30, &der_tlv(0x06, &[0x2b, 0x65, 0x70]));
    let mut bits = vec![0u8];
    bits.extend_from_slice(signature.as_ref());
    der_tlv(0x30, &[info, &algorithm, &der_tlv(0x03, &bits)].concat())
}
