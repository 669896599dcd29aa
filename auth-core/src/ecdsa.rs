//! ECDSA signature malleability for JWS `ES256` / `ES384` (RFC 7518 §3.4).
//!
//! A JWS ECDSA signature is `R || S`, each the curve's byte length, big-endian. For every valid
//! signature `(r, s)` the pair `(r, n - s)` is valid too, so a verifier that must see one
//! signature per message (a replay cache keyed on the token, a token hash) accepts only the
//! "low-S" form, `s ≤ (n - 1) / 2`. The authorization server normalises what it signs with
//! [`normalize_low_s`]; the resource server can require it with [`is_low_s`].
//!
//! ```
//! use mcp_auth_core::ecdsa::{Curve, is_low_s, normalize_low_s};
//!
//! // R || S with S = 0x80…0, just above half the order of P-256.
//! let mut sig = [0u8; 64];
//! sig[32] = 0x80;
//! assert!(!is_low_s(Curve::P256, &sig));
//! assert!(normalize_low_s(Curve::P256, &mut sig));
//! assert!(is_low_s(Curve::P256, &sig));
//! ```

/// A NIST curve used by JWS ECDSA algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256, for `ES256` (32-byte `R` and `S`).
    P256,
    /// P-384, for `ES384` (48-byte `R` and `S`).
    P384,
}

/// The order `n` of P-256, big-endian (SEC 2 §2.4.2).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `(n - 1) / 2` of P-256, big-endian: the largest low `S`.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// The order `n` of P-384, big-endian (SEC 2 §2.5.1).
const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// `(n - 1) / 2` of P-384, big-endian.
const P384_HALF_ORDER: [u8; 48] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe3, 0xb1, 0xa6, 0xc0, 0xfa, 0x1b, 0x96, 0xef,
    0xac, 0x0d, 0x06, 0xd9, 0x24, 0x58, 0x53, 0xbd, 0x76, 0x76, 0x0c, 0xb5, 0x66, 0x62, 0x94, 0xb9,
];

impl Curve {
    fn order(self) -> &'static [u8] {
        match self {
            Self::P256 => &P256_ORDER,
            Self::P384 => &P384_ORDER,
        }
    }

    fn half_order(self) -> &'static [u8] {
        match self {
            Self::P256 => &P256_HALF_ORDER,
            Self::P384 => &P384_HALF_ORDER,
        }
    }

    /// The byte length of `R` (and of `S`): 32 for P-256, 48 for P-384.
    pub fn scalar_len(self) -> usize {
        self.order().len()
    }
}

/// True when `signature` is `R || S` of the curve's length with `S ≤ (n - 1) / 2`. A signature
/// of the wrong length is not low-S.
pub fn is_low_s(curve: Curve, signature: &[u8]) -> bool {
    let len = curve.scalar_len();
    signature.len() == 2 * len && signature[len..] <= *curve.half_order()
}

/// Replace `S` by `n - S` when it is above half the order, so the signature verifies exactly as
/// before and is low-S. Returns `false` (and changes nothing) when `signature` is not `R || S`
/// of the curve's length.
pub fn normalize_low_s(curve: Curve, signature: &mut [u8]) -> bool {
    let len = curve.scalar_len();
    if signature.len() != 2 * len {
        return false;
    }
    if signature[len..] > *curve.half_order() {
        negate_s(curve, signature);
    }
    true
}

/// Replace `S` by `n - S` unconditionally: the other valid signature of the same message. Used
/// by test kits to make the malleated twin of a good signature. Does nothing when `signature` is
/// not `R || S` of the curve's length.
pub fn negate_s(curve: Curve, signature: &mut [u8]) {
    let len = curve.scalar_len();
    if signature.len() != 2 * len {
        return;
    }
    let order = curve.order();
    let s = &mut signature[len..];
    let mut borrow = 0i16;
    for i in (0..len).rev() {
        let d = i16::from(order[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        s[i] = (d + (borrow << 8)) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2 · half + 1 = n` for both curves: the constants agree with each other.
    #[test]
    fn half_orders_are_half_the_orders() {
        for curve in [Curve::P256, Curve::P384] {
            let half = curve.half_order();
            let mut carry = 1u16;
            let mut doubled = vec![0u8; half.len()];
            for i in (0..half.len()).rev() {
                let v = u16::from(half[i]) * 2 + carry;
                doubled[i] = v as u8;
                carry = v >> 8;
            }
            assert_eq!(carry, 0);
            assert_eq!(doubled, curve.order());
        }
    }

    /// Negating twice gives the signature back, and exactly one of the twins is low-S.
    #[test]
    fn negation_is_an_involution_and_one_twin_is_low() {
        for curve in [Curve::P256, Curve::P384] {
            let len = curve.scalar_len();
            for seed in [1u8, 0x42, 0x7f, 0x80, 0xfe] {
                let mut sig = vec![0x11u8; 2 * len];
                sig[len..].iter_mut().enumerate().for_each(|(i, b)| {
                    *b = seed.wrapping_add(i as u8);
                });
                sig[len] = seed; // keep S < n
                let original = sig.clone();
                let mut twin = sig.clone();
                negate_s(curve, &mut twin);
                assert_ne!(twin, original);
                assert_ne!(is_low_s(curve, &original), is_low_s(curve, &twin));
                negate_s(curve, &mut twin);
                assert_eq!(twin, original);
                assert!(normalize_low_s(curve, &mut sig));
                assert!(is_low_s(curve, &sig));
            }
        }
    }

    /// A signature of the wrong length is neither low-S nor changed.
    #[test]
    fn wrong_length_is_not_low_s() {
        let mut sig = vec![0u8; 63];
        assert!(!is_low_s(Curve::P256, &sig));
        assert!(!normalize_low_s(Curve::P256, &mut sig));
        assert_eq!(sig, vec![0u8; 63]);
    }
}
