import Decoding
import Foundation

/// The raw records of one source transaction waiting for its COMMIT, kept in
/// memory up to a limit and spilled to an unlinked temporary file beyond it,
/// so a million-row transaction takes bounded memory.
final class ChangeBuffer {
    /// A buffered record and what it needs at commit time.
    struct Entry {
        var raw: [UInt8]
        /// The parsed record while the entry is in memory (saves parsing it
        /// again at COMMIT); nil for entries read back from the spill file.
        var record: DecodedRecord?
        var actor: Int32
        /// Index into the transaction's table snapshots, or a negative marker (EventBuilder).
        var table: Int32
    }

    private var memory: [Entry] = []
    /// Estimated bytes held in memory (spilled entries cost nothing here).
    private(set) var memoryBytes = 0
    private var spill: FileHandle?
    private(set) var count = 0
    let memoryLimit: Int

    init(memoryLimit: Int) {
        self.memoryLimit = memoryLimit
    }

    func append(_ entry: Entry) throws {
        count += 1
        // The text plus its parsed form, which takes about twice as much.
        let cost = 3 * entry.raw.count + 64
        if spill == nil && memoryBytes + cost <= memoryLimit {
            memory.append(entry)
            memoryBytes += cost
            return
        }
        let file = try spill ?? Self.openSpillFile()
        spill = file
        var frame: [UInt8] = []
        frame.reserveCapacity(entry.raw.count + 12)
        for value in [UInt32(entry.raw.count), UInt32(bitPattern: entry.actor), UInt32(bitPattern: entry.table)] {
            frame += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        frame += entry.raw
        try file.write(contentsOf: frame)
    }

    /// Calls `body` with every entry in order: memory first, then the spill file.
    func forEach(_ body: (Entry) throws -> Void) throws {
        for entry in memory { try body(entry) }
        guard let file = spill else { return }
        try file.seek(toOffset: 0)
        var pending: [UInt8] = []
        var start = 0
        var atEnd = false
        func word(_ at: Int) -> UInt32 {
            UInt32(pending[at]) << 24 | UInt32(pending[at + 1]) << 16 | UInt32(pending[at + 2]) << 8 | UInt32(pending[at + 3])
        }
        while true {
            // Frames may straddle reads: parse what is whole, keep the rest.
            while pending.count - start >= 12 {
                let length = Int(word(start))
                guard pending.count - start >= 12 + length else { break }
                try body(Entry(raw: Array(pending[(start + 12)..<(start + 12 + length)]), record: nil,
                               actor: Int32(bitPattern: word(start + 4)), table: Int32(bitPattern: word(start + 8))))
                start += 12 + length
            }
            if atEnd { break }
            let chunk = try file.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { atEnd = true; continue }
            pending.removeFirst(start)
            start = 0
            pending += chunk
        }
        guard start == pending.count else { throw CaptureError("the spill file ends inside a record") }
    }

    private static func openSpillFile() throws -> FileHandle {
        var template = Array((NSTemporaryDirectory() + "/walaudit-spill-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw CaptureError("cannot create a spill file: \(String(cString: strerror(errno)))") }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}
