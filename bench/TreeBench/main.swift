// What `walaudit verify --checkpoints` spends on the Merkle tree, in memory:
// feeding N chain hashes to the tree check (its share of the verify pass,
// per event), then checking K tree checkpoints against it (roots and a
// consistency proof between each and the one before). Run by bench/tree.sh.
//
//   tree-bench [--events N] [--checkpoints K]
import Foundation
import Ledger

var events = 10_000_000
var checkpoints = 10_000
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--events": events = Int(arguments.next() ?? "") ?? events
    case "--checkpoints": checkpoints = Int(arguments.next() ?? "") ?? checkpoints
    default:
        FileHandle.standardError.write(Data("usage: tree-bench [--events N] [--checkpoints K]\n".utf8))
        exit(2)
    }
}

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

// The chain hashes (stand-ins) and, for the checkpoints, the true roots.
let sizes = (1...checkpoints).map { Int64(events) * Int64($0) / Int64(checkpoints) }
var heads: [(seq: Int64, head: TreeHead)] = []
var stored: [Int64: [UInt8]] = [:]
var hashes: [[UInt8]] = []
hashes.reserveCapacity(events)
var frontier = MerkleFrontier()
var next = 0
let prepare = seconds {
    for seq in 1...Int64(events) {
        let hash = Crypto.sha256(withUnsafeBytes(of: seq) { Array($0) })
        hashes.append(hash)
        for node in hash.withUnsafeBytes({ frontier.append(leafData: $0) }) { stored[TreeCheck.key(node.level, node.index)] = node.hash }
        while next < sizes.count && sizes[next] == seq {
            heads.append((seq, TreeHead(origin: "bench", size: seq, root: frontier.root)))
            next += 1
        }
    }
}
print("tree-bench: \(events) events, \(checkpoints) tree checkpoints (prepared in \(String(format: "%.1f", prepare)) s)")

let check = TreeCheck(heads: heads)
let feed = seconds {
    let part = check.part()
    for (index, hash) in hashes.enumerated() { hash.withUnsafeBytes { part.add(seq: Int64(index + 1), hash: $0) } }
}
print(String(format: "  feeding the chain hashes: %.2f s (%.2f µs per event, one thread)", feed, feed / Double(events) * 1e6))
var problem: (seq: Int64, problem: String)?
let verify = seconds { problem = check.problem(stored: stored) }
print(String(format: "  %d checkpoints: roots, consistency proofs and %d stored nodes checked in %.3f s — %@", checkpoints, stored.count, verify,
             problem.map { "PROBLEM at \($0.seq): \($0.problem)" } ?? "all consistent"))
