import Decoding

/// The width of one bar of an activity chart, chosen from the span the
/// report covers so that a day shows hours and a year weeks: the finest
/// step of `ladder` that cuts the span into at most `maxBuckets` (months
/// when none does). Buckets are aligned in UTC: fixed steps and weeks on
/// multiples of their length from Monday 2000-01-03 00:00 UTC (so hours
/// start on the hour, days at midnight, weeks on Mondays), months on the 1st.
public enum TimeBucket: Equatable, Sendable {
    case minutes(Int)
    case hours(Int)
    case days(Int)
    case weeks
    case months

    /// The steps tried, finest first.
    public static let ladder: [TimeBucket] = [.minutes(1), .minutes(5), .minutes(15), .hours(1), .hours(6), .days(1), .weeks, .months]

    /// At most this many bars per chart (months excepted: a decade has 120).
    public static let maxBuckets = 60

    /// Monday 2000-01-03 00:00 UTC, in seconds since 1970: where fixed steps start.
    public static let origin: Int64 = 946_857_600

    /// The bucket for events from `first` to `last` (seconds since 1970, UTC).
    public static func choose(first: Int64, last: Int64) -> TimeBucket {
        let (from, to) = (min(first, last), max(first, last))
        return ladder.first { $0.count(from: from, to: to) <= maxBuckets } ?? .months
    }

    /// The length in seconds; nil for months, which vary.
    public var seconds: Int64? {
        switch self {
        case .minutes(let n): Int64(n) * 60
        case .hours(let n): Int64(n) * 3600
        case .days(let n): Int64(n) * 86_400
        case .weeks: 7 * 86_400
        case .months: nil
        }
    }

    /// The start of the bucket holding `time`.
    public func start(of time: Int64) -> Int64 {
        if let seconds {
            let offset = time - Self.origin
            let index = offset >= 0 ? offset / seconds : -((-offset + seconds - 1) / seconds)
            return Self.origin + index * seconds
        }
        let (year, month, _) = PostgresTimestamp.civilDate(daysSinceEpoch: Self.floorDays(time))
        return PostgresTimestamp.daysSinceEpoch(year: year, month: month, day: 1) * 86_400
    }

    /// The start of the bucket after the one starting at `start`.
    public func next(after start: Int64) -> Int64 {
        if let seconds { return start + seconds }
        let (year, month, _) = PostgresTimestamp.civilDate(daysSinceEpoch: Self.floorDays(start))
        let (nextYear, nextMonth) = month == 12 ? (year + 1, Int64(1)) : (year, month + 1)
        return PostgresTimestamp.daysSinceEpoch(year: nextYear, month: nextMonth, day: 1) * 86_400
    }

    /// Every bucket start from the one holding `first` to the one holding `last`.
    public func starts(from first: Int64, to last: Int64) -> [Int64] {
        var starts: [Int64] = []
        var start = self.start(of: first)
        while start <= last {
            starts.append(start)
            start = next(after: start)
        }
        return starts
    }

    /// How many buckets `[from, to]` touches (without listing them).
    func count(from: Int64, to: Int64) -> Int64 {
        if let seconds { return (start(of: to) - start(of: from)) / seconds + 1 }
        let (y1, m1, _) = PostgresTimestamp.civilDate(daysSinceEpoch: Self.floorDays(from))
        let (y2, m2, _) = PostgresTimestamp.civilDate(daysSinceEpoch: Self.floorDays(to))
        return (y2 - y1) * 12 + (m2 - m1) + 1
    }

    /// "15 minutes", "hour", "week (from Monday)", … for "events per …".
    public var name: String {
        switch self {
        case .minutes(1): "minute"
        case .minutes(let n): "\(n) minutes"
        case .hours(1): "hour"
        case .hours(let n): "\(n) hours"
        case .days(1): "day"
        case .days(let n): "\(n) days"
        case .weeks: "week (from Monday)"
        case .months: "month"
        }
    }

    /// An axis label for the bucket starting at `start`, as precise as the
    /// step needs: `2026-11-28 14:15`, `2026-11-28 14:00`, `2026-11-28`, `2026-11`.
    public func label(_ start: Int64) -> String {
        let iso = PostgresTimestamp(microsecondsSinceEpoch: start * 1_000_000).iso8601  // 2026-11-28T14:15:00.000000Z
        let date = String(iso.prefix { $0 != "T" })
        let clock = String(iso.drop { $0 != "T" }.dropFirst().prefix(5))
        switch self {
        case .minutes, .hours: return date + " " + clock
        case .days, .weeks: return date
        case .months: return String(date.dropLast(3))
        }
    }

    private static func floorDays(_ time: Int64) -> Int64 {
        time >= 0 ? time / 86_400 : -((-time + 86_399) / 86_400)
    }
}
