// fmtValue writes a number exactly as the core's alert summaries do (the Go
// function FormatValue in core/apiv1), so that a value on the page reads
// the same as the value in the notification it came from:
//
//   if math.Abs(v) >= 1e6 || v == math.Trunc(v) {
//     return strconv.FormatFloat(v, 'g', 6, 64)
//   }
//   return strconv.FormatFloat(v, 'f', 2, 64)
//
// Go rounds the exact binary value of v, and an exact tie to the even
// digit. JavaScript's toFixed also rounds the exact value, but it breaks
// ties away from zero, and toPrecision prints large values differently, so
// each branch needs care:
//
// - Below 1e6, a value that is not an integer gets two decimals. toFixed(2)
//   agrees with Go except at an exact tie, and a float can only lie exactly
//   halfway between two hundredths when it is an odd multiple of 1/8 (a tie
//   is (2k + 1) / 200, and a float is a fraction with a power of two below).
//   Of the four such endings, .375 and .875 round up in both languages, but
//   .125 and .625 round down to the even .12 and .62 in Go. Such a value has
//   exactly three decimals, so toFixed(3) writes it exactly, and dropping
//   its last digit rounds it down.
// - An integer below 1e6 has at most six digits, which Go writes in full.
// - From 1e6 up, Go always writes six significant digits with an exponent,
//   without trailing zeros in the mantissa and with at least two exponent
//   digits: 1e+06, 1.23457e+06, 1.79769e+308. fmtLarge rounds the integral
//   part as a BigInt, which holds it exactly, and lets the fraction (which
//   v - Math.trunc(v) gives exactly) break a tie in the integral digits.

export function fmtValue(v) {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  // Go writes a minus for -0 as for any negative value, but String(-0) and
  // (-0).toFixed(2) write none, so the sign is taken off here and put back.
  const sign = v < 0 || Object.is(v, -0) ? "-" : "";
  const a = Math.abs(v);
  if (a >= 1e6) return sign + fmtLarge(a);
  if (a === Math.trunc(a)) return sign + String(a);
  if (isOddEighth(a)) {
    const exact = a.toFixed(3);
    if (exact.endsWith("25")) return sign + exact.slice(0, -1);
  }
  return sign + a.toFixed(2);
}

// isOddEighth says whether a is an odd multiple of 1/8, the only values
// that lie exactly halfway between two hundredths. Multiplying by 8 is exact.
function isOddEighth(a) {
  const m = a * 8;
  return Number.isInteger(m) && m % 2 === 1;
}

// fmtLarge writes a finite a >= 1e6 as Go's FormatFloat(a, 'g', 6, 64).
function fmtLarge(a) {
  const whole = BigInt(Math.trunc(a));
  const frac = a - Math.trunc(a);
  const digits = whole.toString().length;
  let exp = digits - 1;

  // Keep the first six digits and round by what the rest is worth.
  const unit = 10n ** BigInt(digits - 6);
  let kept = whole / unit;
  const twiceRest = (whole % unit) * 2n;
  // Round up when the rest is more than half a unit: either its integral
  // digits already are, or they are exactly half and a fraction follows.
  // Exactly half with no fraction is a tie, which goes to the even digit.
  const overHalf = twiceRest > unit || (twiceRest === unit && frac > 0);
  const tieToEven = twiceRest === unit && frac === 0 && kept % 2n === 1n;
  if (overHalf || tieToEven) kept += 1n;
  // Rounding 999999 up gives seven digits, 1000000: one more in the exponent.
  if (kept === 1000000n) {
    kept = 100000n;
    exp += 1;
  }

  const mantissa = kept.toString().replace(/0+$/, "");
  const point = mantissa.length > 1 ? "." + mantissa.slice(1) : "";
  const expDigits = exp < 10 ? "0" + exp : String(exp);
  return mantissa[0] + point + "e+" + expDigits;
}
