//! The decimal digits `fpconv_dtoa` gives a double: Florian Loitsch's Grisu2 as the `fpconv`
//! library implements it, which Redis 7.2+ and Valkey use for non-integral sorted-set scores
//! in listpacks (`d2string`).
//!
//! Grisu2 works in 64-bit fixed point with one cached power of ten, so its digits round-trip
//! but are not always the shortest or the closest: 279359099187066.12 (the shortest) comes out
//! as `279359099187066.13`. A writer that must store the servers' own bytes needs these exact
//! digits, so the arithmetic below follows `fpconv` step by step, including its wrapping
//! `u64` operations; the tests compare it with texts real servers stored.

/// A double as `frac × 2^exp`.
#[derive(Clone, Copy, Debug)]
struct Fp {
    frac: u64,
    exp: i32,
}

const FRAC_MASK: u64 = 0x000F_FFFF_FFFF_FFFF;
const EXP_MASK: u64 = 0x7FF0_0000_0000_0000;
const HIDDEN_BIT: u64 = 0x0010_0000_0000_0000;
/// 1023 + 52.
const EXP_BIAS: i32 = 1075;

/// The cached powers: normalized 64-bit significands (rounded to nearest) and binary exponents
/// of 10^k for k = -348, -340, ..., 340 (checked against exact arithmetic in the tests).
const POWERS: [(u64, i32); 87] = [
    (0xfa8f_d5a0_081c_0288, -1220), // 1e-348
    (0xbaae_e17f_a23e_bf76, -1193), // 1e-340
    (0x8b16_fb20_3055_ac76, -1166), // 1e-332
    (0xcf42_894a_5dce_35ea, -1140), // 1e-324
    (0x9a6b_b0aa_5565_3b2d, -1113), // 1e-316
    (0xe61a_cf03_3d1a_45df, -1087), // 1e-308
    (0xab70_fe17_c79a_c6ca, -1060), // 1e-300
    (0xff77_b1fc_bebc_dc4f, -1034), // 1e-292
    (0xbe56_91ef_416b_d60c, -1007), // 1e-284
    (0x8dd0_1fad_907f_fc3c, -980),  // 1e-276
    (0xd351_5c28_3155_9a83, -954),  // 1e-268
    (0x9d71_ac8f_ada6_c9b5, -927),  // 1e-260
    (0xea9c_2277_23ee_8bcb, -901),  // 1e-252
    (0xaecc_4991_4078_536d, -874),  // 1e-244
    (0x823c_1279_5db6_ce57, -847),  // 1e-236
    (0xc210_9436_4dfb_5637, -821),  // 1e-228
    (0x9096_ea6f_3848_984f, -794),  // 1e-220
    (0xd774_85cb_2582_3ac7, -768),  // 1e-212
    (0xa086_cfcd_97bf_97f4, -741),  // 1e-204
    (0xef34_0a98_172a_ace5, -715),  // 1e-196
    (0xb238_67fb_2a35_b28e, -688),  // 1e-188
    (0x84c8_d4df_d2c6_3f3b, -661),  // 1e-180
    (0xc5dd_4427_1ad3_cdba, -635),  // 1e-172
    (0x936b_9fce_bb25_c996, -608),  // 1e-164
    (0xdbac_6c24_7d62_a584, -582),  // 1e-156
    (0xa3ab_6658_0d5f_daf6, -555),  // 1e-148
    (0xf3e2_f893_dec3_f126, -529),  // 1e-140
    (0xb5b5_ada8_aaff_80b8, -502),  // 1e-132
    (0x8762_5f05_6c7c_4a8b, -475),  // 1e-124
    (0xc9bc_ff60_34c1_3053, -449),  // 1e-116
    (0x964e_858c_91ba_2655, -422),  // 1e-108
    (0xdff9_7724_7029_7ebd, -396),  // 1e-100
    (0xa6df_bd9f_b8e5_b88f, -369),  // 1e-92
    (0xf8a9_5fcf_8874_7d94, -343),  // 1e-84
    (0xb944_7093_8fa8_9bcf, -316),  // 1e-76
    (0x8a08_f0f8_bf0f_156b, -289),  // 1e-68
    (0xcdb0_2555_6531_31b6, -263),  // 1e-60
    (0x993f_e2c6_d07b_7fac, -236),  // 1e-52
    (0xe45c_10c4_2a2b_3b06, -210),  // 1e-44
    (0xaa24_2499_6973_92d3, -183),  // 1e-36
    (0xfd87_b5f2_8300_ca0e, -157),  // 1e-28
    (0xbce5_0864_9211_1aeb, -130),  // 1e-20
    (0x8cbc_cc09_6f50_88cc, -103),  // 1e-12
    (0xd1b7_1758_e219_652c, -77),   // 1e-4
    (0x9c40_0000_0000_0000, -50),   // 1e4
    (0xe8d4_a510_0000_0000, -24),   // 1e12
    (0xad78_ebc5_ac62_0000, 3),     // 1e20
    (0x813f_3978_f894_0984, 30),    // 1e28
    (0xc097_ce7b_c907_15b3, 56),    // 1e36
    (0x8f7e_32ce_7bea_5c70, 83),    // 1e44
    (0xd5d2_38a4_abe9_8068, 109),   // 1e52
    (0x9f4f_2726_179a_2245, 136),   // 1e60
    (0xed63_a231_d4c4_fb27, 162),   // 1e68
    (0xb0de_6538_8cc8_ada8, 189),   // 1e76
    (0x83c7_088e_1aab_65db, 216),   // 1e84
    (0xc45d_1df9_4271_1d9a, 242),   // 1e92
    (0x924d_692c_a61b_e758, 269),   // 1e100
    (0xda01_ee64_1a70_8dea, 295),   // 1e108
    (0xa26d_a399_9aef_774a, 322),   // 1e116
    (0xf209_787b_b47d_6b85, 348),   // 1e124
    (0xb454_e4a1_79dd_1877, 375),   // 1e132
    (0x865b_8692_5b9b_c5c2, 402),   // 1e140
    (0xc835_53c5_c896_5d3d, 428),   // 1e148
    (0x952a_b45c_fa97_a0b3, 455),   // 1e156
    (0xde46_9fbd_99a0_5fe3, 481),   // 1e164
    (0xa59b_c234_db39_8c25, 508),   // 1e172
    (0xf6c6_9a72_a398_9f5c, 534),   // 1e180
    (0xb7dc_bf53_54e9_bece, 561),   // 1e188
    (0x88fc_f317_f222_41e2, 588),   // 1e196
    (0xcc20_ce9b_d35c_78a5, 614),   // 1e204
    (0x9816_5af3_7b21_53df, 641),   // 1e212
    (0xe2a0_b5dc_971f_303a, 667),   // 1e220
    (0xa8d9_d153_5ce3_b396, 694),   // 1e228
    (0xfb9b_7cd9_a4a7_443c, 720),   // 1e236
    (0xbb76_4c4c_a7a4_4410, 747),   // 1e244
    (0x8bab_8eef_b640_9c1a, 774),   // 1e252
    (0xd01f_ef10_a657_842c, 800),   // 1e260
    (0x9b10_a4e5_e991_3129, 827),   // 1e268
    (0xe710_9bfb_a19c_0c9d, 853),   // 1e276
    (0xac28_20d9_623b_f429, 880),   // 1e284
    (0x8044_4b5e_7aa7_cf85, 907),   // 1e292
    (0xbf21_e440_03ac_dd2d, 933),   // 1e300
    (0x8e67_9c2f_5e44_ff8f, 960),   // 1e308
    (0xd433_179d_9c8c_b841, 986),   // 1e316
    (0x9e19_db92_b4e3_1ba9, 1013),  // 1e324
    (0xeb96_bf6e_badf_77d9, 1039),  // 1e332
    (0xaf87_023b_9bf0_ee6b, 1066),  // 1e340
];

/// The decimal exponent of `POWERS[0]` and the step between entries.
const FIRST_POWER: i32 = -348;
const POWER_STEP: i32 = 8;

/// 10^19 down to 10^0.
const TENS: [u64; 20] = [
    10_000_000_000_000_000_000,
    1_000_000_000_000_000_000,
    100_000_000_000_000_000,
    10_000_000_000_000_000,
    1_000_000_000_000_000,
    100_000_000_000_000,
    10_000_000_000_000,
    1_000_000_000_000,
    100_000_000_000,
    10_000_000_000,
    1_000_000_000,
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];

/// Most digits Grisu2 produces for a double.
pub(crate) const MAX_DIGITS: usize = 18;

/// `fpconv`'s digits of a double: `digits[..len]` × 10^`k`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grisu2 {
    pub(crate) digits: [u8; MAX_DIGITS],
    pub(crate) len: usize,
    pub(crate) k: i32,
}

impl Grisu2 {
    /// The digits, ASCII.
    pub(crate) fn digits(&self) -> &[u8] {
        self.digits.get(..self.len).unwrap_or(&self.digits)
    }

    fn push(&mut self, digit: u64) {
        if let Some(d) = self.digits.get_mut(self.len) {
            // A digit is 0..=9 here.
            *d = b'0' + (digit % 10) as u8;
            self.len += 1;
        }
    }
}

fn build_fp(v: f64) -> Fp {
    let bits = v.to_bits();
    let frac = bits & FRAC_MASK;
    let exp = ((bits & EXP_MASK) >> 52) as i32;
    if exp != 0 {
        Fp {
            frac: frac + HIDDEN_BIT,
            exp: exp - EXP_BIAS,
        }
    } else {
        Fp {
            frac,
            exp: 1 - EXP_BIAS,
        }
    }
}

fn normalize(mut fp: Fp) -> Fp {
    while fp.frac & HIDDEN_BIT == 0 {
        fp.frac <<= 1;
        fp.exp -= 1;
    }
    Fp {
        frac: fp.frac << 11,
        exp: fp.exp - 11,
    }
}

/// The boundaries `(lower, upper)` of `fp`'s rounding interval, normalized to `upper`'s
/// exponent.
fn normalized_boundaries(fp: Fp) -> (Fp, Fp) {
    let mut upper = Fp {
        frac: (fp.frac << 1) + 1,
        exp: fp.exp - 1,
    };
    while upper.frac & (HIDDEN_BIT << 1) == 0 {
        upper.frac <<= 1;
        upper.exp -= 1;
    }
    upper.frac <<= 10;
    upper.exp -= 10;
    let l_shift = if fp.frac == HIDDEN_BIT { 2 } else { 1 };
    let lower_exp = fp.exp - l_shift;
    let lower = Fp {
        frac: ((fp.frac << l_shift).wrapping_sub(1)) << (lower_exp - upper.exp),
        exp: upper.exp,
    };
    (lower, upper)
}

/// `a × b`, the upper 64 bits of the product rounded (half up).
fn multiply(a: Fp, b: Fp) -> Fp {
    const LO: u64 = 0xFFFF_FFFF;
    let ah_bl = (a.frac >> 32) * (b.frac & LO);
    let al_bh = (a.frac & LO) * (b.frac >> 32);
    let al_bl = (a.frac & LO) * (b.frac & LO);
    let ah_bh = (a.frac >> 32) * (b.frac >> 32);
    let tmp = (ah_bl & LO) + (al_bh & LO) + (al_bl >> 32) + (1 << 31);
    Fp {
        frac: ah_bh + (ah_bl >> 32) + (al_bh >> 32) + (tmp >> 32),
        exp: a.exp + b.exp + 64,
    }
}

/// The cached power that brings a number of binary exponent `exp` into [-60, -32], and its
/// decimal exponent.
fn cached_power(exp: i32) -> (Fp, i32) {
    const ONE_LOG_TEN: f64 = 0.301_029_995_663_981_14;
    // C: `int approx = -(exp + npowers) * one_log_ten;` (truncated toward zero).
    let approx = (f64::from(-(exp + 87)) * ONE_LOG_TEN) as i32;
    let last = POWERS.len() - 1;
    let mut idx = usize::try_from((approx - FIRST_POWER) / POWER_STEP)
        .unwrap_or(0)
        .min(last);
    let power = |i: usize| POWERS.get(i).copied().unwrap_or((1 << 63, -63));
    // Bounded: each step moves by 8 decimal exponents (≈ 26.6 binary), toward the window.
    for _ in 0..POWERS.len() {
        let current = exp + power(idx).1 + 64;
        if current < -60 && idx < last {
            idx += 1;
        } else if current > -32 && idx > 0 {
            idx -= 1;
        } else {
            break;
        }
    }
    let (frac, pexp) = power(idx);
    (
        Fp { frac, exp: pexp },
        FIRST_POWER + idx as i32 * POWER_STEP,
    )
}

/// Grisu2's weeding: moves the last digit down while that brings the result closer to `w`
/// and keeps it inside the interval.
fn round_digit(out: &mut Grisu2, delta: u64, mut rem: u64, kappa: u64, frac: u64) {
    while rem < frac
        && delta.wrapping_sub(rem) >= kappa
        && (rem.wrapping_add(kappa) < frac
            || frac.wrapping_sub(rem) > rem.wrapping_add(kappa).wrapping_sub(frac))
    {
        if let Some(d) = out.len.checked_sub(1).and_then(|i| out.digits.get_mut(i)) {
            *d = d.wrapping_sub(1);
        }
        rem = rem.wrapping_add(kappa);
    }
}

/// Grisu2's digit generation. `FAST` skips the divisors above the integral part's leading
/// digit and divides in 32 bits; `fpconv` walks all of 10^9..10^0 in 64 bits, where those give
/// no digit and cannot stop the loop (the remainder is then all of `upper`, far above `delta`),
/// so the digits are the same (the tests compare both on random doubles).
fn generate_digits<const FAST: bool>(w: Fp, upper: Fp, lower: Fp, out: &mut Grisu2) {
    let wfrac = upper.frac.wrapping_sub(w.frac);
    let mut delta = upper.frac.wrapping_sub(lower.frac);
    // upper.exp is in [-60, -32] (the cached power's window), so part1 < 2^32.
    let shift = (-upper.exp).clamp(0, 63) as u32;
    let one = 1u64 << shift;
    let mut part1 = upper.frac >> shift;
    let mut part2 = upper.frac & (one - 1);

    // Index in TENS of the first divisor: 10^9 (index 10), or the leading digit's power.
    let start = if FAST {
        let n = part1.checked_ilog10().map_or(0, |l| l as usize + 1).min(10);
        20 - n
    } else {
        10
    };
    // After the divisor 10^j, kappa is j.
    let mut kappa: i32 = 20 - start as i32;
    // Integral part: divisors 10^9 down to 10^0.
    for &div in TENS.get(start..).unwrap_or(&[]) {
        let digit = if FAST {
            u64::from(part1 as u32 / div as u32)
        } else {
            part1 / div
        };
        if digit != 0 || out.len != 0 {
            out.push(digit);
        }
        part1 -= digit * div;
        kappa -= 1;
        let tmp = (part1 << shift).wrapping_add(part2);
        if tmp <= delta {
            out.k += kappa;
            round_digit(out, delta, tmp, div << shift, wfrac);
            return;
        }
    }
    // Fractional part: one digit per step, the unit scaled by 10^1, 10^2, ...
    for &unit in TENS[..19].iter().rev() {
        part2 = part2.wrapping_mul(10);
        delta = delta.wrapping_mul(10);
        kappa -= 1;
        let digit = part2 >> shift;
        if digit != 0 || out.len != 0 {
            out.push(digit);
        }
        part2 &= one - 1;
        if part2 < delta {
            out.k += kappa;
            round_digit(out, delta, part2, one, wfrac.wrapping_mul(unit));
            return;
        }
    }
}

/// `fpconv`'s Grisu2 digits of a positive finite non-zero `v`.
pub(crate) fn digits(v: f64) -> Grisu2 {
    digits_with::<true>(v)
}

/// [`digits`], with [`generate_digits`]'s fast path or `fpconv`'s literal loop.
fn digits_with<const FAST: bool>(v: f64) -> Grisu2 {
    let w = build_fp(v);
    let (lower, upper) = normalized_boundaries(w);
    let w = normalize(w);
    let (cp, k) = cached_power(upper.exp);
    let w = multiply(w, cp);
    let mut upper = multiply(upper, cp);
    let mut lower = multiply(lower, cp);
    lower.frac = lower.frac.wrapping_add(1);
    upper.frac = upper.frac.wrapping_sub(1);
    let mut out = Grisu2 {
        digits: [0; MAX_DIGITS],
        len: 0,
        k: -k,
    };
    generate_digits::<FAST>(w, upper, lower, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little-endian base-2^32 big integer, for checking the table exactly.
    #[derive(Clone)]
    struct Big(Vec<u64>);

    impl Big {
        fn from(v: u128) -> Big {
            let mut b = Big(Vec::new());
            let mut v = v;
            while v > 0 {
                b.0.push((v & 0xFFFF_FFFF) as u64);
                v >>= 32;
            }
            b
        }
        fn mul(&self, o: &Big) -> Big {
            let mut r = vec![0u64; self.0.len() + o.0.len() + 1];
            for (i, &a) in self.0.iter().enumerate() {
                let mut carry = 0u64;
                for (j, &b) in o.0.iter().enumerate() {
                    let t = r[i + j] + a * b + carry;
                    r[i + j] = t & 0xFFFF_FFFF;
                    carry = t >> 32;
                }
                let mut at = i + o.0.len();
                while carry > 0 {
                    let t = r[at] + carry;
                    r[at] = t & 0xFFFF_FFFF;
                    carry = t >> 32;
                    at += 1;
                }
            }
            Big(r)
        }
        fn shl(&self, n: u32) -> Big {
            let mut r = vec![0u64; (n / 32) as usize];
            let s = n % 32;
            let mut carry = 0u64;
            for &l in &self.0 {
                let t = (l << s) | carry;
                r.push(t & 0xFFFF_FFFF);
                carry = t >> 32;
            }
            r.push(carry);
            Big(r)
        }
        fn pow10(n: u32) -> Big {
            let ten = Big::from(10);
            (0..n).fold(Big::from(1), |acc, _| acc.mul(&ten))
        }
        fn cmp(&self, o: &Big) -> std::cmp::Ordering {
            let n = self.0.len().max(o.0.len());
            (0..n)
                .rev()
                .map(|i| {
                    let a = self.0.get(i).copied().unwrap_or(0);
                    let b = o.0.get(i).copied().unwrap_or(0);
                    a.cmp(&b)
                })
                .find(|c| c.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        }
    }

    /// `x · 2^a` compared with `y · 2^b`.
    fn cmp_scaled(x: &Big, a: i32, y: &Big, b: i32) -> std::cmp::Ordering {
        let m = a.min(b);
        x.shl((a - m) as u32).cmp(&y.shl((b - m) as u32))
    }

    /// The table is 10^k rounded to 64 significant bits (half up), checked in exact integer
    /// arithmetic: `(2f − 1) · 2^(e−1) ≤ 10^k < (2f + 1) · 2^(e−1)`, top bit of `f` set.
    #[test]
    fn powers_are_rounded_powers_of_ten() {
        use std::cmp::Ordering::{Greater, Less};
        for (i, &(frac, exp)) in POWERS.iter().enumerate() {
            let k = FIRST_POWER + i as i32 * POWER_STEP;
            assert!(frac >> 63 == 1, "10^{k} not normalized");
            let lo = Big::from(2 * u128::from(frac) - 1);
            let hi = Big::from(2 * u128::from(frac) + 1);
            let p = Big::pow10(k.unsigned_abs());
            let one = Big::from(1);
            if k >= 0 {
                // lo·2^(e−1) ≤ p·2^0 < hi·2^(e−1)
                assert_ne!(cmp_scaled(&lo, exp - 1, &p, 0), Greater, "10^{k} low");
                assert_eq!(cmp_scaled(&p, 0, &hi, exp - 1), Less, "10^{k} high");
            } else {
                // 10^k = 1 / p: lo·p·2^(e−1) ≤ 1 < hi·p·2^(e−1)
                assert_ne!(
                    cmp_scaled(&lo.mul(&p), exp - 1, &one, 0),
                    Greater,
                    "10^{k} low"
                );
                assert_eq!(
                    cmp_scaled(&one, 0, &hi.mul(&p), exp - 1),
                    Less,
                    "10^{k} high"
                );
            }
        }
    }

    fn text(v: f64) -> String {
        let g = digits(v);
        format!("{}e{}", std::str::from_utf8(g.digits()).unwrap(), g.k)
    }

    /// Powers of two have a closer lower neighbour (the boundary of a power of two is
    /// asymmetric): every one, from 2^-1074 to 2^1023, prints digits that read back to
    /// exactly it, and two known texts are fpconv's.
    #[test]
    fn powers_of_two_read_back_exactly() {
        for e in -1074..=1023 {
            let v = 2f64.powi(e);
            let t = crate::double::ScoreText::fpconv(v);
            assert_eq!(
                t.as_str().parse::<f64>().unwrap(),
                v,
                "2^{e}: {}",
                t.as_str()
            );
        }
        let text = |v: f64| crate::double::ScoreText::fpconv(v).as_str().to_owned();
        assert_eq!(text(2f64.powi(-25)), "2.9802322387695313e-8");
        assert_eq!(text(2f64.powi(64)), "18446744073709552000");
    }

    /// Digits Valkey 8.1.8 stored (listpack score texts of `SAVE`d sorted sets), where
    /// Grisu2 is not the shortest: the shortest of 279359099187066.13 is ...066.12.
    #[test]
    fn digits_real_servers_stored() {
        for (v, want) in [
            (279_359_099_187_066.13, "27935909918706613e-2"),
            (851_009_284_123_603.3, "8510092841236033e-1"),
            (935_095_080_893_773.3, "9350950808937733e-1"),
            (0.1, "1e-1"),
            (906.100_168_744_618_7, "9061001687446187e-13"),
            (1.5e-7, "15e-8"),
            (2.5e-5, "25e-6"),
            (5e-324, "5e-324"),
            (1.797_693_134_862_315_7e308, "17976931348623157e292"),
            (1.234_567_890_123_456_7e19, "12345678901234567e3"),
        ] {
            assert_eq!(text(v), want, "{v:e}");
        }
    }

    /// The fast path gives `fpconv`'s literal loop's digits.
    #[test]
    fn fast_digits_equal_the_literal_loop() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for i in 0..1_000_000 {
            let v = match i % 3 {
                0 => f64::from_bits(rng.random::<u64>() >> 1),
                1 => rng.random_range(0.0..1.0) * 10f64.powi(rng.random_range(-12..22)),
                _ => f64::from(rng.random_range(1..100_000u32)) / 64.0,
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let (a, b) = (digits_with::<true>(v), digits_with::<false>(v));
            assert_eq!((a.digits(), a.k), (b.digits(), b.k), "{v:e}");
        }
    }

    /// Whatever the digits, they stand for the same double (Grisu2 always round-trips).
    #[test]
    fn digits_round_trip() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut not_shortest = 0;
        for i in 0..200_000 {
            let v = match i % 2 {
                0 => f64::from_bits(rng.random::<u64>() >> 1),
                _ => rng.random_range(0.0..1.0) * 10f64.powi(rng.random_range(-10..20)),
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let t = text(v);
            assert_eq!(t.parse::<f64>().unwrap(), v, "{t}");
            let shortest = format!("{v:e}");
            let n = shortest.split('e').next().unwrap().replace('.', "").len();
            assert!(digits(v).len >= n, "{t} shorter than {shortest}");
            not_shortest += usize::from(digits(v).len > n);
        }
        assert!(
            not_shortest > 0,
            "Grisu2 is sometimes longer than the shortest"
        );
    }
}
