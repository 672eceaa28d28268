import CProcess
import Foundation
import Synchronization

/// A child process that stops the server and deletes its directory as soon
/// as this process closes the pipe it waits on — explicitly, or implicitly
/// by exiting or dying.
final class Watchdog: Sendable {
    /// The watchdog and the write end of its pipe, until `finish`.
    private let state: Mutex<(child: ChildProcess, writeEnd: Int32)?>

    init(cleaning directory: String, dataDirectory: String, pgCtl: String, as user: ServerUser) throws {
        var ends: [Int32] = [0, 0]
        // Close-on-exec: a child (the postmaster above all) inheriting the
        // write end would keep the pipe open forever.
        guard walaudit_pipe_cloexec(&ends) == 0 else {
            throw ClusterError("pipe2(): \(String(cString: strerror(errno)))")
        }
        let script = "cat >/dev/null; \"$1\" -D \"$2\" -m immediate -w stop >/dev/null 2>&1; rm -rf \"$3\""
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(devNull) }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                user.commandLine(["/bin/sh", "-c", script, "walaudit-watchdog", pgCtl, dataDirectory, directory]),
                stdin: ends[0], stdout: devNull, stderr: devNull)
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[0])
        state = Mutex((child, ends[1]))
    }

    /// Closes the pipe and waits for the cleanup to finish; idempotent.
    func finish() {
        let taken = state.withLock { current -> (child: ChildProcess, writeEnd: Int32)? in
            defer { current = nil }
            return current
        }
        guard let (child, writeEnd) = taken else { return }
        close(writeEnd)
        _ = child.wait()
    }
}
