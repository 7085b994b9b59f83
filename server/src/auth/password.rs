//! Password hashing with argon2id (OWASP parameters by default), run off the async runtime and
//! bounded, and the password policy.
//!
//! Every hash and every check takes 19 MiB (at OWASP parameters) and a core for tens of
//! milliseconds. Run each on its own blocking thread, as they once were, and 1,000 enumerators
//! logging in at once took the server to 2.9–5.8 GiB and 300–515 threads (the login bench), every
//! login finishing only when all of them did, some with a 500 when the database pool gave up
//! waiting. So [`Passwords`] lets a few run at once ([`HashBound::hashers`]: the cores, within
//! [`HASH_MEMORY_BUDGET_KIB`]) and a few more wait ([`HashBound::queue`]); a login that finds the
//! queue full is turned away at once ([`Passwords::try_enter`] answers [`Busy`], which the login
//! route answers 503 `busy` with `Retry-After`), having cost neither a hash nor a query. The
//! argon2 memory in use is then at most `hashers × argon2_memory_kib`.
//!
//! Everything else that hashes (creating users, changing a password, the CSV import, the first
//! ministry account) waits for its turn instead ([`Passwords::enter`]): those are rare, done by
//! someone who would rather wait a second than retry, and a waiting caller is served before any
//! login that arrives after it. The import hashes as many lines at once as there are hashers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{error::FieldError, settings::Settings};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// Longest password accepted (argon2 handles any length; this bounds the work per request).
pub const MAX_LENGTH: usize = 128;

/// Memory the hashes running at once may take between them when the number of hashers is not set:
/// 40 MiB, two hashes at OWASP parameters. In the login bench's storm (1,000 at once, two
/// hashers) the whole server peaked at 94–137 MiB, from 61–73 MiB just after start; a third
/// hash, 19 MiB more, could take it past the 150 MB (143 MiB) the server aims for. A host with
/// memory to spare sets `password_hashers` instead.
pub const HASH_MEMORY_BUDGET_KIB: u64 = 40 * 1024;

/// Logins that may wait, per hasher, when the queue is not set. Eight keeps a queued login's wait
/// under ten hash times (well under a second) while the queue stays long enough for the hashers
/// never to idle while turned-away clients come back.
pub const QUEUE_PER_HASHER: usize = 8;

/// How many password hashes run at once and how many more may wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashBound {
    /// Hashes running at once, each on a blocking thread with its own argon2 memory.
    pub hashers: usize,
    /// Callers that may wait for a hasher beyond those running.
    pub queue: usize,
}

impl HashBound {
    /// The bound for a host with `cores` cores and hashes of `memory_kib` each, unless `hashers` or
    /// `queue` are set: as many hashers as cores, but no more than fit in
    /// [`HASH_MEMORY_BUDGET_KIB`], and always at least one; [`QUEUE_PER_HASHER`] waiting per
    /// hasher.
    pub fn new(
        cores: usize,
        memory_kib: u32,
        hashers: Option<u32>,
        queue: Option<u32>,
    ) -> HashBound {
        let fit = HASH_MEMORY_BUDGET_KIB / u64::from(memory_kib.max(1));
        let hashers = match hashers {
            Some(h) => h as usize,
            None => cores.min(usize::try_from(fit).unwrap_or(usize::MAX)),
        }
        .max(1);
        let queue = queue.map_or(hashers * QUEUE_PER_HASHER, |q| q as usize);
        HashBound { hashers, queue }
    }

    /// The bound from the settings, on this host's cores.
    pub fn from_settings(settings: &Settings) -> HashBound {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        HashBound::new(
            cores,
            settings.argon2_memory_kib,
            settings.password_hashers,
            settings.password_hash_queue,
        )
    }
}

/// How long a turned-away login should wait: the time the hashers take to work through a full
/// queue (`mean_hash` each), in whole seconds rounded up, at least 1 and at most 60.
pub fn retry_after(bound: HashBound, mean_hash: Duration) -> Duration {
    let hashers = bound.hashers.max(1);
    let rounds = (hashers + bound.queue).div_ceil(hashers);
    let drain = mean_hash.saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX));
    let secs = drain.as_secs() + u64::from(drain.subsec_nanos() > 0);
    Duration::from_secs(secs.clamp(1, 60))
}

/// Hashes and verifies passwords, a bounded few at a time (see the module docs). Cheap to clone;
/// clones share the bound.
#[derive(Clone)]
pub struct Passwords {
    argon: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when the user does not exist so that an unknown
    /// user costs the same time as a wrong password.
    dummy_hash: Arc<String>,
    limit: Arc<Limit>,
}

/// The bound's counters, shared by every clone of a [`Passwords`].
struct Limit {
    bound: HashBound,
    /// `hashers + queue` places: holding one is being let in (waiting or hashing).
    places: Arc<Semaphore>,
    /// `hashers` permits: holding one is hashing.
    hashers: Arc<Semaphore>,
    /// Hashes running now, and the most seen at once (for tests and the bench).
    running: AtomicUsize,
    peak: AtomicUsize,
    /// Logins turned away.
    turned_away: AtomicU64,
    /// Moving average of a hash's duration, in microseconds, for `Retry-After`.
    mean_micros: AtomicU64,
}

impl Limit {
    fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // An exponential moving average (weight 1/8); lost updates between threads only blur it.
        let old = self.mean_micros.load(Ordering::Relaxed);
        let new = if sample >= old {
            old + (sample - old) / 8
        } else {
            old - (old - sample) / 8
        };
        self.mean_micros.store(new, Ordering::Relaxed);
    }
}

/// A hash running on a blocking thread: gives its hasher and its place back when the hash is done,
/// and not before, even when the request that asked for it was abandoned meanwhile (the thread
/// goes on hashing, and still holds its memory).
struct Running {
    limit: Arc<Limit>,
    _hasher: OwnedSemaphorePermit,
    _place: OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Before the permits are released (fields drop after this body), so that the count never
        // shows more hashes running than there are hashers.
        self.limit.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A login turned away because the hashers and their queue are full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// How long to wait before trying again ([`retry_after`]).
    pub retry_after: Duration,
}

/// A place among the hashes running or waiting: got from [`Passwords::try_enter`] or
/// [`Passwords::enter`], spent on one hash or check. Dropping it unused gives the place back.
pub struct Place {
    passwords: Passwords,
    place: OwnedSemaphorePermit,
}

/// Hashing failed (bad parameters or a failed worker thread).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    /// A hashing task that could not be joined.
    pub fn from_join(e: tokio::task::JoinError) -> HashError {
        HashError(e.to_string())
    }
}

// The semaphores live inside `Limit` and nothing closes them.
const NEVER_CLOSED: &str = "the password hashing semaphores are never closed";

impl Passwords {
    /// Builds the hasher from the settings' argon2 parameters and hash bound
    /// ([`HashBound::from_settings`]).
    pub fn new(settings: &Settings) -> Result<Passwords, HashError> {
        Passwords::with_bound(settings, HashBound::from_settings(settings))
    }

    /// Builds the hasher with an explicit bound.
    pub fn with_bound(settings: &Settings, bound: HashBound) -> Result<Passwords, HashError> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let started = Instant::now();
        let dummy = argon
            .hash_password(random_token(16).as_bytes())
            .map_err(|e| HashError(e.to_string()))?
            .to_string();
        let took = started.elapsed();
        Ok(Passwords {
            argon: Arc::new(argon),
            dummy_hash: Arc::new(dummy),
            limit: Arc::new(Limit {
                bound,
                places: Arc::new(Semaphore::new(bound.hashers + bound.queue)),
                hashers: Arc::new(Semaphore::new(bound.hashers)),
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                turned_away: AtomicU64::new(0),
                mean_micros: AtomicU64::new(u64::try_from(took.as_micros()).unwrap_or(u64::MAX)),
            }),
        })
    }

    /// The bound in force.
    pub fn bound(&self) -> HashBound {
        self.limit.bound
    }

    /// Hashes running now.
    pub fn running(&self) -> usize {
        self.limit.running.load(Ordering::Relaxed)
    }

    /// The most hashes seen running at once since start: never more than [`HashBound::hashers`].
    pub fn peak_running(&self) -> usize {
        self.limit.peak.load(Ordering::Relaxed)
    }

    /// Logins turned away with [`Busy`] since start.
    pub fn turned_away(&self) -> u64 {
        self.limit.turned_away.load(Ordering::Relaxed)
    }

    /// A place at once, or [`Busy`] when every hasher is busy and the queue is full. For logins:
    /// take it before looking the user up, so that a login turned away costs no query.
    pub fn try_enter(&self) -> Result<Place, Busy> {
        match self.limit.places.clone().try_acquire_owned() {
            Ok(place) => Ok(Place {
                passwords: self.clone(),
                place,
            }),
            Err(_) => {
                self.limit.turned_away.fetch_add(1, Ordering::Relaxed);
                let mean = Duration::from_micros(self.limit.mean_micros.load(Ordering::Relaxed));
                Err(Busy {
                    retry_after: retry_after(self.limit.bound, mean),
                })
            }
        }
    }

    /// A place, waiting for one if need be (in turn, ahead of logins that arrive later).
    pub async fn enter(&self) -> Place {
        Place {
            passwords: self.clone(),
            place: self
                .limit
                .places
                .clone()
                .acquire_owned()
                .await
                .expect(NEVER_CLOSED),
        }
    }

    /// Hashes a password, waiting for a place and a hasher.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.enter().await.hash(password).await
    }

    /// Verifies a password, waiting for a place and a hasher; see [`Place::verify`].
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        self.enter().await.verify(password, stored).await
    }
}

impl Place {
    /// Waits for a hasher, then runs `work` on a blocking thread.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let Place { passwords, place } = self;
        let limit = passwords.limit.clone();
        let hasher = limit
            .hashers
            .clone()
            .acquire_owned()
            .await
            .expect(NEVER_CLOSED);
        let now = limit.running.fetch_add(1, Ordering::Relaxed) + 1;
        limit.peak.fetch_max(now, Ordering::Relaxed);
        let running = Running {
            limit,
            _hasher: hasher,
            _place: place,
        };
        let argon = passwords.argon;
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = work(&argon);
            running.limit.record(started.elapsed());
            drop(running);
            out
        })
        .await
    }

    /// Hashes a password on a blocking thread once a hasher is free.
    pub async fn hash(self, password: String) -> Result<String, HashError> {
        self.run(move |argon| {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(HashError::from_join)?
    }

    /// Verifies on a blocking thread once a hasher is free. With no stored hash (unknown user) it
    /// verifies against a dummy hash and answers false, taking the same time.
    pub async fn verify(self, password: String, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.passwords.dummy_hash.as_ref().clone());
        self.run(move |argon| {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            argon.verify_password(password.as_bytes(), &parsed).is_ok() && known
        })
        .await
        .unwrap_or(false)
    }
}

/// Random URL-safe token of `bytes` random bytes (hex encoded).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    crate::text::hex(&buf)
}

/// A random password that satisfies the policy, for generated accounts.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut buf = [0u8; 16];
    rand::fill(&mut buf[..]);
    buf.iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The most common passwords (from public breach-frequency lists, plus Vietnamese favourites),
/// refused whatever their length.
const COMMON: &[&str] = &[
    "123456",
    "password",
    "12345678",
    "qwerty",
    "123456789",
    "12345",
    "1234",
    "111111",
    "1234567",
    "dragon",
    "123123",
    "baseball",
    "abc123",
    "football",
    "monkey",
    "letmein",
    "696969",
    "shadow",
    "master",
    "666666",
    "qwertyuiop",
    "123321",
    "mustang",
    "1234567890",
    "michael",
    "654321",
    "superman",
    "1qaz2wsx",
    "7777777",
    "121212",
    "000000",
    "qazwsx",
    "123qwe",
    "killer",
    "trustno1",
    "jordan",
    "jennifer",
    "zxcvbnm",
    "asdfgh",
    "hunter",
    "buster",
    "soccer",
    "harley",
    "batman",
    "andrew",
    "tigger",
    "sunshine",
    "iloveyou",
    "2000",
    "charlie",
    "robert",
    "thomas",
    "hockey",
    "ranger",
    "daniel",
    "starwars",
    "klaster",
    "112233",
    "george",
    "computer",
    "michelle",
    "jessica",
    "pepper",
    "1111",
    "zxcvbn",
    "555555",
    "11111111",
    "131313",
    "freedom",
    "777777",
    "pass",
    "maggie",
    "159753",
    "aaaaaa",
    "ginger",
    "princess",
    "joshua",
    "cheese",
    "amanda",
    "summer",
    "love",
    "ashley",
    "nicole",
    "chelsea",
    "biteme",
    "matthew",
    "access",
    "yankees",
    "987654321",
    "dallas",
    "austin",
    "thunder",
    "taylor",
    "matrix",
    "password1",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "admin",
    "admin123",
    "administrator",
    "welcome",
    "welcome1",
    "welcome123",
    "changeme",
    "secret",
    "qwerty123",
    "qwerty1",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "zaq12wsx",
    "abcd1234",
    "abcdef",
    "abc12345",
    "123456a",
    "a123456",
    "a123456789",
    "123456789a",
    "12345678910",
    "0123456789",
    "9876543210",
    "1234512345",
    "123123123",
    "11111111111",
    "00000000",
    "88888888",
    "66666666",
    "99999999",
    "12341234",
    "asdfghjkl",
    "asdf1234",
    "qwertyui",
    "iloveyou1",
    "loveyou",
    "trustme",
    "letmein1",
    "football1",
    "baseball1",
    "superman1",
    "sunshine1",
    "matkhau",
    "matkhau123",
    "matkhau1",
    "anhyeuem",
    "emyeuanh",
    "yeuem",
    "yeuanh",
    "anhyeuem123",
    "emyeuanh123",
    "vietnam",
    "vietnam123",
    "hanoi",
    "hanoi123",
    "saigon",
    "saigon123",
    "hochiminh",
    "sipas",
    "sipas2023",
    "sipas2025",
    "sipas123",
    "buudien",
    "buudien123",
    "vnpost",
    "vnpost123",
    "noivu",
    "bonoivu",
    "songvu",
    "dieutravien",
    "12345678a",
    "1234567890a",
    "qwe123",
    "123qweasd",
    "qweasdzxc",
    "qweasd123",
];

/// Checks a new password: length, not a common password, not the username. Returns the field
/// errors (code `weak_password`), bilingual.
pub fn check_policy(password: &str, username: &str) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let len = password.chars().count();
    let weak = |vi: &str, en: &str| FieldError::new("password", "weak_password", vi, en);
    if len < MIN_LENGTH {
        errors.push(weak(
            &format!("Mật khẩu phải có ít nhất {MIN_LENGTH} ký tự."),
            &format!("The password must have at least {MIN_LENGTH} characters."),
        ));
    }
    if len > MAX_LENGTH {
        errors.push(weak(
            &format!("Mật khẩu không được dài quá {MAX_LENGTH} ký tự."),
            &format!("The password must have at most {MAX_LENGTH} characters."),
        ));
    }
    let lower = password.to_lowercase();
    let stripped = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!');
    if COMMON.contains(&lower.as_str()) || COMMON.contains(&stripped) {
        errors.push(weak(
            "Mật khẩu này quá phổ biến, dễ bị đoán.",
            "This password is too common and easy to guess.",
        ));
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        errors.push(weak(
            "Mật khẩu không được chứa tên đăng nhập.",
            "The password must not contain the username.",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_common_and_username_passwords() {
        assert!(check_policy("short", "an").is_err());
        assert!(check_policy("password123", "an").is_err());
        assert!(check_policy("Matkhau123", "an").is_err());
        assert!(check_policy("qwertyuiop", "an").is_err());
        assert!(check_policy("nguyenvana-2025!", "nguyenvana").is_err());
        assert!(check_policy("correct horse battery", "an").is_ok());
        // The username holds an `o` and a `.`, which generated passwords never do: a random one
        // must pass for any such user. (With "an" here this failed about once in fifty runs, when
        // the 16 random characters happened to contain "an".)
        for _ in 0..1000 {
            let p = generate_password();
            assert!(check_policy(&p, "hoa.nguyen").is_ok(), "{p}");
        }
    }

    #[test]
    fn the_bound_follows_the_cores_within_the_memory_budget() {
        let owasp = Settings::default().argon2_memory_kib;
        // This host's two cores: two hashers, sixteen waiting.
        assert_eq!(
            HashBound::new(2, owasp, None, None),
            HashBound {
                hashers: 2,
                queue: 16
            }
        );
        // Many cores: no more hashers than fit in 40 MiB at 19 MiB each.
        assert_eq!(HashBound::new(32, owasp, None, None).hashers, 2);
        assert!(
            HashBound::new(32, owasp, None, None).hashers as u64 * u64::from(owasp)
                <= HASH_MEMORY_BUDGET_KIB
        );
        // Cheap hashes: the cores decide; a lighter hash leaves room for a third.
        assert_eq!(HashBound::new(8, 1024, None, None).hashers, 8);
        assert_eq!(HashBound::new(8, 12 * 1024, None, None).hashers, 3);
        // Hashes bigger than the budget, or a host that reports no cores: still one.
        assert_eq!(HashBound::new(8, 256 * 1024, None, None).hashers, 1);
        assert_eq!(HashBound::new(0, owasp, None, None).hashers, 1);
        assert_eq!(HashBound::new(4, 0, None, None).hashers, 4);
        // Settings win, even over the budget; a queue of 0 turns away all but the running ones.
        assert_eq!(
            HashBound::new(2, owasp, Some(6), Some(0)),
            HashBound {
                hashers: 6,
                queue: 0
            }
        );
        assert_eq!(HashBound::new(2, owasp, Some(0), None).hashers, 1);
        assert_eq!(HashBound::new(2, owasp, Some(3), None).queue, 24);
    }

    #[test]
    fn retry_after_is_the_time_to_work_through_a_full_queue() {
        let b = |hashers, queue| HashBound { hashers, queue };
        // 18 places on 2 hashers: 9 rounds of 40 ms, 0.36 s, rounded up to a second.
        assert_eq!(
            retry_after(b(2, 16), Duration::from_millis(40)),
            Duration::from_secs(1)
        );
        // 9 rounds of 250 ms: 2.25 s, so 3.
        assert_eq!(
            retry_after(b(2, 16), Duration::from_millis(250)),
            Duration::from_secs(3)
        );
        // An uneven split rounds the rounds up: 5 places on 2 hashers are 3 rounds.
        assert_eq!(
            retry_after(b(2, 3), Duration::from_secs(1)),
            Duration::from_secs(3)
        );
        assert_eq!(
            retry_after(b(2, 16), Duration::ZERO),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_after(b(1, 1000), Duration::from_secs(1)),
            Duration::from_secs(60)
        );
        assert_eq!(
            retry_after(b(0, 0), Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    fn cheap() -> Settings {
        Settings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..Settings::default()
        }
    }

    #[tokio::test]
    async fn a_full_queue_turns_logins_away_and_others_wait_their_turn() {
        let bound = HashBound {
            hashers: 1,
            queue: 2,
        };
        let p = Passwords::with_bound(&cheap(), bound).unwrap();
        let held: Vec<Place> = (0..3).map(|_| p.try_enter().unwrap()).collect();
        let busy = p.try_enter().err().unwrap();
        assert!(busy.retry_after >= Duration::from_secs(1));
        assert_eq!(p.turned_away(), 1);
        // A hash that waits rather than being turned away, served once a place is given back.
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.hash("correct horse battery".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        let mut held = held;
        held.pop();
        // The place given back went to the waiting hash, not to a login arriving after it.
        assert!(p.try_enter().is_err());
        let h = waiting.await.unwrap().unwrap();
        // Once that hash is done, its place is free for a login.
        assert!(p.try_enter().is_ok());
        assert!(
            held.pop()
                .unwrap()
                .verify("correct horse battery".into(), Some(h))
                .await
        );
        assert_eq!(p.running(), 0);
        assert_eq!(p.peak_running(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_never_run_more_than_the_hashers() {
        let bound = HashBound {
            hashers: 2,
            queue: 3,
        };
        let p = Passwords::with_bound(&cheap(), bound).unwrap();
        let h = p.hash("correct horse battery".into()).await.unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (p, h) = (p.clone(), h.clone());
                tokio::spawn(async move {
                    match p.try_enter() {
                        Ok(place) => {
                            Some(place.verify("correct horse battery".into(), Some(h)).await)
                        }
                        Err(_) => None,
                    }
                })
            })
            .collect();
        let (mut ok, mut busy) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Some(true) => ok += 1,
                Some(false) => panic!("a right password failed"),
                None => busy += 1,
            }
        }
        assert!(ok >= 5, "{ok} checked, {busy} turned away");
        assert_eq!(busy as u64, p.turned_away());
        assert!(p.peak_running() <= 2, "{} at once", p.peak_running());
        assert!(p.peak_running() >= 1);
        assert_eq!(p.running(), 0);
    }

    #[tokio::test]
    async fn an_abandoned_check_holds_its_hasher_until_the_hash_ends() {
        // OWASP parameters: a hash takes tens of milliseconds, far longer than the 1 ms allowed.
        let p = Passwords::with_bound(
            &Settings::default(),
            HashBound {
                hashers: 1,
                queue: 0,
            },
        )
        .unwrap();
        let place = p.try_enter().unwrap();
        let abandoned =
            tokio::time::timeout(Duration::from_millis(1), place.verify("x".into(), None)).await;
        assert!(abandoned.is_err());
        // The blocking thread is still hashing: its hasher and place are still taken.
        assert_eq!(p.running(), 1);
        assert!(p.try_enter().is_err());
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.running() > 0 {
            assert!(Instant::now() < deadline, "the abandoned hash never ended");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(p.try_enter().is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_fail() {
        let s = Settings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..Settings::default()
        };
        let p = Passwords::new(&s).unwrap();
        let h = p.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            p.verify("correct horse battery".into(), Some(h.clone()))
                .await
        );
        assert!(!p.verify("wrong".into(), Some(h)).await);
        assert!(!p.verify("anything".into(), None).await);
    }
}
