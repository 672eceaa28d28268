import Glibc

/// Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch (its
/// binary timestamps and the replication protocol count from the latter).
public let postgresEpochOffsetMicroseconds: Int64 = 946_684_800_000_000

/// An instant with PostgreSQL's resolution: microseconds since 1970-01-01 UTC.
///
/// Commit times in the stream are `timestamptz` text in the session's time
/// zone; this type holds the instant, independent of that zone.
public struct PostgresTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// The last instant whose microseconds since 1970 fit an Int64,
    /// 294247-01-10T04:00:54.775807Z (PostgreSQL's own range goes on to
    /// 294276; the chain's timestamps end here).
    public static let latestEncodable = PostgresTimestamp(microsecondsSinceEpoch: .max)

    /// Now, by this machine's clock.
    public static func now() -> PostgresTimestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return PostgresTimestamp(microsecondsSinceEpoch: Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)
    }

    public static func < (a: Self, b: Self) -> Bool {
        a.microsecondsSinceEpoch < b.microsecondsSinceEpoch
    }

    /// ISO 8601 in UTC with six fractional digits, e.g. `2026-11-28T05:00:00.123456Z`,
    /// in the proleptic Gregorian calendar: the year has at least four digits,
    /// years before 1 are numbered astronomically and signed (1 BC is `0000`,
    /// 44 BC `-0043`). Every Int64 has one.
    public var iso8601: String {
        let micros = microsecondsSinceEpoch
        let (seconds, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        let wholeSeconds = fraction < 0 ? seconds - 1 : seconds
        let fractionPositive = fraction < 0 ? fraction + 1_000_000 : fraction
        let (days, secondOfDay) = wholeSeconds.quotientAndRemainder(dividingBy: 86_400)
        let day = secondOfDay < 0 ? days - 1 : days
        let second = secondOfDay < 0 ? secondOfDay + 86_400 : secondOfDay
        let (y, m, d) = Self.civilDate(daysSinceEpoch: day)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
            + pad(second / 3600, 2) + ":" + pad(second / 60 % 60, 2) + ":" + pad(second % 60, 2)
            + "." + pad(fractionPositive, 6) + "Z"
    }

    public var description: String { iso8601 }

    /// Parses `timestamptz_to_str` output: `YYYY-MM-DD HH:MM:SS[.ffffff]±HH[:MM[:SS]]`.
    /// Returns nil for anything else (BC dates and infinities included).
    public init?(postgresText text: Substring) {
        var scanner = TimestampScanner(Array(text.utf8))
        guard let year = scanner.digits(exactly: 4), scanner.skip("-"),
              let month = scanner.digits(exactly: 2), scanner.skip("-"),
              let day = scanner.digits(exactly: 2), scanner.skip(" "),
              let hour = scanner.digits(exactly: 2), scanner.skip(":"),
              let minute = scanner.digits(exactly: 2), scanner.skip(":"),
              let second = scanner.digits(exactly: 2),
              (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second < 60
        else { return nil }
        guard let (micros, offsetSeconds) = scanner.fractionAndOffset(), scanner.atEnd else { return nil }
        let days = Self.daysSinceEpoch(year: year, month: month, day: day)
        let localSeconds = days * 86_400 + hour * 3600 + minute * 60 + second
        microsecondsSinceEpoch = (localSeconds - offsetSeconds) * 1_000_000 + micros
    }

    /// Parses a `timestamptz` as `to_jsonb` writes it (ISO 8601):
    /// `YYYY-MM-DDTHH:MM:SS[.f]±HH[:MM[:SS]][ BC]`, the year of four digits
    /// or more; `infinity` and `-infinity` are the largest and smallest
    /// instants. Returns nil for anything else.
    public init?(jsonText text: Substring) {
        if text == "infinity" { microsecondsSinceEpoch = .max; return }
        if text == "-infinity" { microsecondsSinceEpoch = .min; return }
        var scanner = TimestampScanner(Array(text.utf8))
        var year: Int64 = 0
        var yearDigits = 0
        while let digit = scanner.digit() {
            guard yearDigits < 7 else { return nil }
            year = year * 10 + digit
            yearDigits += 1
        }
        guard yearDigits >= 4, scanner.skip("-"),
              let month = scanner.digits(exactly: 2), scanner.skip("-"),
              let day = scanner.digits(exactly: 2), scanner.skip("T"),
              let hour = scanner.digits(exactly: 2), scanner.skip(":"),
              let minute = scanner.digits(exactly: 2), scanner.skip(":"),
              let second = scanner.digits(exactly: 2),
              (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second < 60
        else { return nil }
        guard let (micros, offsetSeconds) = scanner.fractionAndOffset() else { return nil }
        if scanner.skip(" ") {
            // 1 BC is year 0 of the proleptic calendar, 2 BC year -1, …
            guard scanner.skip("B"), scanner.skip("C"), year > 0 else { return nil }
            year = 1 - year
        }
        guard scanner.atEnd else { return nil }
        let days = Self.daysSinceEpoch(year: year, month: month, day: day)
        let localSeconds = days * 86_400 + hour * 3600 + minute * 60 + second
        microsecondsSinceEpoch = (localSeconds - offsetSeconds) * 1_000_000 + micros
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
    public static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `daysSinceEpoch`.
    public static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

private func pad(_ value: Int64, _ width: Int) -> String {
    if value < 0 { return "-" + pad(-value, width) }
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// A forward-only reader of ASCII digits and punctuation.
private struct TimestampScanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(character.value) else { return false }
        index += 1
        return true
    }

    mutating func digit() -> Int64? {
        guard index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 else { return nil }
        defer { index += 1 }
        return Int64(bytes[index] - 0x30)
    }

    mutating func digits(exactly count: Int) -> Int64? {
        var value: Int64 = 0
        for _ in 0..<count {
            guard let d = digit() else { return nil }
            value = value * 10 + d
        }
        return value
    }

    /// `[.f…]±HH[:MM[:SS]]` after the seconds: the microseconds (up to 6
    /// digits of fraction) and the signed UTC offset in seconds.
    mutating func fractionAndOffset() -> (micros: Int64, offsetSeconds: Int64)? {
        var micros: Int64 = 0
        if skip(".") {
            var count = 0
            while let d = digit() {
                guard count < 6 else { return nil }
                micros = micros * 10 + d
                count += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<6 { micros *= 10 }
        }
        let sign: Int64
        if skip("+") { sign = 1 } else if skip("-") { sign = -1 } else { return nil }
        guard let hours = digits(exactly: 2) else { return nil }
        var offset = hours * 3600
        if skip(":") {
            guard let minutes = digits(exactly: 2) else { return nil }
            offset += minutes * 60
            if skip(":") {
                guard let seconds = digits(exactly: 2) else { return nil }
                offset += seconds
            }
        }
        return (micros, sign * offset)
    }
}
