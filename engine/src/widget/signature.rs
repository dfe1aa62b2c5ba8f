//! Customer signatures. A site that knows its signed-in user renders
//! `data-customer-id="cust_42"` and `data-customer-signature="<hex HMAC-SHA256 of cust_42 with
//! the widget secret>"`, computed on its own server. Without the secret a visitor cannot forge
//! the signature of another customer's id, so cannot read that customer's conversations.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of widget secrets, so a leaked one is recognisable in logs and scanners.
pub const SECRET_PREFIX: &str = "wsec_";

/// Returns a new widget secret: the prefix and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// Returns the hex HMAC-SHA256 of `customer_id` with `secret` (what the site computes).
pub fn sign(secret: &str, customer_id: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(customer_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Tells whether `signature_hex` is the signature of `customer_id` with `secret`, comparing in
/// constant time. Upper- or lowercase hex are both accepted.
pub fn verify(secret: &str, customer_id: &str, signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(customer_id.as_bytes());
    mac.verify_slice(&signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_own_id_and_secret() {
        let secret = new_secret();
        let sig = sign(&secret, "cust_42");
        assert_eq!(sig.len(), 64);
        assert!(verify(&secret, "cust_42", &sig));
        assert!(verify(&secret, "cust_42", &sig.to_uppercase()));
        assert!(!verify(&secret, "cust_43", &sig));
        assert!(!verify(&new_secret(), "cust_42", &sig));
        assert!(!verify(&secret, "cust_42", "not hex"));
        assert!(!verify(&secret, "cust_42", ""));
    }

    #[test]
    fn the_signature_matches_the_published_hmac_sha256_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
