import Decoding
import Foundation
import Ledger
import Testing

/// `Chain` is a value: copies appending on two threads at once neither
/// share buffers nor draw the same salts.
@Suite struct ChainCopyTests {
    @Test func copiesAppendIndependentlyOnTwoThreads() {
        let event = AuditEvent(eventTime: PostgresTimestamp(microsecondsSinceEpoch: 1_764_000_000_000_000), operation: .insert,
                               schemaName: "public", tableName: "t", rowKey: .object([.init("id", .number("1"))]),
                               newRow: .object([.init("id", .number("1")), .init("note", .string(String(repeating: "x", count: 200)))]))
        var original = Chain()
        _ = original.append(event)  // the original's workspace exists and is shared by the copies below
        let copies = [original, original]
        let results = DispatchQueue.concurrentPerformResult(copies) { chain in
            var chain = chain
            return (0..<20_000).map { _ in chain.append(event) }
        }
        let salts = results.flatMap { $0.map(\.payloadSalt) }
        #expect(Set(salts).count == salts.count, "two copies drew the same salt")
        // Each copy's hashes are what one thread alone computes from the same salts.
        for chained in results {
            var replay = original
            #expect(chained.allSatisfy { replay.append(event, salt: $0.payloadSalt).hash == $0.hash })
        }
    }
}

extension DispatchQueue {
    /// `body` applied to each input on its own thread, at the same time.
    static func concurrentPerformResult<Input: Sendable, Output: Sendable>(_ inputs: [Input], _ body: @Sendable (Input) -> Output) -> [Output] {
        let results = UnsafeMutableBufferPointer<Output?>.allocate(capacity: inputs.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results  // each thread writes its own index only
        concurrentPerform(iterations: inputs.count) { slots[$0] = body(inputs[$0]) }
        return results.map { $0! }
    }
}
