@testable import AuditStore
import Testing

/// `walaudit verify --jobs N` splits the stored seqs into ranges; the bounds
/// are min(seq) and max(seq) of a possibly tampered log, anywhere in Int64.
@Suite struct SeqRangeTests {
    @Test(arguments: [
        (Int64(1), Int64(21), 2), (1, 21, 3), (1, 21, 4), (1, 21, 7), (1, 5, 4), (1, 3, 8), (1, 1, 4), (7, 1_000_001, 8),
        (Int64.min, 1_000, 1), (Int64.min, 1_000, 8), (1, Int64.max, 8), (Int64.max - 4, Int64.max, 4), (Int64.min, Int64.max, 3),
        (-5, 0, 4), (Int64.min, Int64.min, 2),
    ])
    func rangesCoverEverySeqOnceInOrder(lowest: Int64, highest: Int64, jobs: Int) {
        let ranges = StoreVerification.split(lowest: lowest, highest: highest, jobs: jobs)
        #expect(!ranges.isEmpty && ranges.count <= jobs)
        #expect(ranges.first?.from == nil && ranges.last?.to == nil, "open at both ends")
        // Each range starts right after the one before and holds at least one seq.
        let low = max(lowest, 1)
        for (previous, next) in zip(ranges, ranges.dropFirst()) {
            guard let end = previous.to, let start = next.from else { Issue.record("inner bound missing"); continue }
            #expect(end < Int64.max && start == end + 1)
            #expect(start > (previous.from ?? low - 1) && start <= highest)
        }
    }
}
