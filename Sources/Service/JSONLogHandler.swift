import Decoding
import Foundation
import Logging
import Synchronization

/// swift-log's handler for `--log-format json`: one JSON object per line on
/// standard error, `{"time", "level", "message", "metadata"}` — the time in
/// ISO 8601 UTC with microseconds, swift-log's level name, and the logger's
/// and the call's metadata as JSON (strings, arrays and objects). Each line
/// is one write, whole, whichever thread logs it.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// Serializes writes from the worker's threads, so lines never interleave.
    private static let output = Mutex(())

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        let now = PostgresTimestamp.now()
        let line = JSONValue.object([
            .init("time", .string(now.iso8601)),
            .init("level", .string(event.level.rawValue)),
            .init("message", .string(event.message.description)),
            .init("metadata", Self.json(merged)),
        ]).serialized + "\n"
        Self.output.withLock { _ in
            _ = line.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
        }
    }

    /// Metadata as a JSON object, keys in order.
    static func json(_ metadata: Logger.Metadata) -> JSONValue {
        .object(metadata.sorted { $0.key < $1.key }.map { .init($0.key, json($0.value)) })
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let members): json(members)
        }
    }
}
