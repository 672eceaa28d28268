import ArgumentParser
import Decoding
import Foundation

/// `walaudit decode`: test_decoding text on stdin to JSON lines on stdout.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a test_decoding stream from stdin into one JSON object per line.",
        discussion: """
            Reads what `pg_recvlogical --plugin=test_decoding -f -` writes (one record per \
            line; values may contain newlines) and prints one JSON object per transaction \
            boundary, row change, TRUNCATE or logical message. No database is needed.

            Example:
              pg_recvlogical -d mydb --slot=peek --start -o include-xids=1 \\
                -o include-timestamp=1 -o skip-empty-xacts=1 -f - | walaudit decode

            On malformed input it stops with exit status 1 and names the byte offset and \
            the offending text; every line printed before that is a whole record. Exit \
            status 2: stdin could not be read.
            """
    )

    func run() throws {
        var stream = RecordStream()
        var output = StandardOutput()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var finished = false
        while !finished {
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot read stdin: \(String(cString: strerror(errno)))")
            }
            finished = count == 0
            stream.append(chunk[0..<count])
            do {
                while let (record, offset) = try stream.next(isFinal: finished) {
                    do {
                        try record.json().write(to: &output.buffer)
                    } catch {
                        throw DecodeError(offset: offset, reason: "a json value is not valid JSON (\(error.reason))", excerpt: "")
                    }
                    output.buffer.append(0x0A)
                    output.flushIfLarge()
                }
            } catch {
                output.flush()
                throw CLIError("malformed test_decoding input: \(error)", kind: .notIntact)
            }
            output.flush()
        }
    }
}

/// Buffered writes to stdout.
struct StandardOutput {
    var buffer: [UInt8] = []

    mutating func flushIfLarge() {
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
