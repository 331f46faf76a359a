//! Object names: what the API server accepts (DNS subdomain), and generated ones that look
//! like the real controllers' (pod-template hashes, random suffixes).

use rand::Rng;

/// The alphabet Kubernetes uses for generated names (no vowels, no confusable digits).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random suffix of `length` characters from the Kubernetes alphabet (`x2k4p`).
pub fn random_suffix(length: usize) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The `pod-template-hash` of a pod template, computed like the deployment controller:
/// FNV-1a over the template, printed in decimal, each digit mapped into the alphabet.
pub fn template_hash(template: &serde_json::Value) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in template.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|digit| char::from(ALPHABET[usize::from(digit) % ALPHABET.len()]))
        .collect()
}

/// Whether a name is a lowercase RFC 1123 subdomain, as Kubernetes requires for most kinds.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hashes_are_stable_and_differ_between_templates() {
        let a = serde_json::json!({"spec": {"containers": [{"name": "a"}]}});
        let b = serde_json::json!({"spec": {"containers": [{"name": "b"}]}});
        assert_eq!(template_hash(&a), template_hash(&a));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert!(template_hash(&a).bytes().all(|c| ALPHABET.contains(&c)));
    }

    #[test]
    fn suffixes_use_the_kubernetes_alphabet() {
        let suffix = random_suffix(5);
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|c| ALPHABET.contains(&c)));
    }
}
