import Foundation

/// The randomness of a test, replayable: a SplitMix64 generator whose seed
/// is printed when the test starts. `WALAUDIT_TEST_SEED=<seed>` sets it, so
/// a failing test runs again with the same inputs, and a drill with the same
/// kill and cut times (the machine's own timing still varies).
public struct SeededRandom: RandomNumberGenerator, CustomStringConvertible {
    public let seed: UInt64
    private var state: UInt64

    /// `test` names the test in the printed line (default: the calling function).
    public init(_ test: String = #function) {
        let configured = ProcessInfo.processInfo.environment["WALAUDIT_TEST_SEED"].flatMap { UInt64($0) }
        seed = configured ?? UInt64.random(in: 1...UInt64(UInt32.max))
        state = seed
        print("\(test): seed \(seed)\(configured == nil ? "" : " (from WALAUDIT_TEST_SEED)"); replay with WALAUDIT_TEST_SEED=\(seed)")
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// "seed N", for the messages of the drill's expectations.
    public var description: String { "seed \(seed)" }

    /// A pause of a random length in `range` seconds.
    public mutating func pause(_ range: ClosedRange<Double>) {
        Thread.sleep(forTimeInterval: Double.random(in: range, using: &self))
    }
}
