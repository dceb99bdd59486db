//! Password hashing with argon2id (PHC strings). CPU- and memory-heavy: call it off async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::vocab::limits::{argon2_iterations, argon2_lanes, argon2_memory_kib};
use crate::vocab::secret::Secret;

fn hasher() -> Argon2<'static> {
    let params = Params::new(argon2_memory_kib, argon2_iterations, argon2_lanes, None)
        .expect("argon2 parameters in limits.rs are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &Secret) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("argon2id hashing with valid parameters cannot fail")
        .to_string()
}

/// Whether `password` matches `phc` (constant-time inside argon2).
pub fn verify(password: &Secret, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| hasher().verify_password(password.expose().as_bytes(), &parsed).is_ok())
}

/// A hash to verify against when the account does not exist, so timing does not reveal it.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&Secret::new("protus-dummy-password".to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        // Proves argon2id hashes verify the right password and refuse a wrong one.
        let phc = hash(&Secret::new("correct horse".into()));
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify(&Secret::new("correct horse".into()), &phc));
        assert!(!verify(&Secret::new("wrong horse".into()), &phc));
        assert!(!verify(&Secret::new("x".into()), "not a phc string"));
    }
}
