import Foundation
import Testing
import TestSupport

/// The README's first command, through the real binary.
@Suite struct DemoTests {
    @Test func demoTellsTheWholeStoryAndCleansUp() throws {
        let report = NSTemporaryDirectory() + "/walaudit-demo-\(UUID().uuidString).html"
        defer { try? FileManager.default.removeItem(atPath: report) }
        let result = try WalauditBinary.run(["demo", "--report", report])
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(output)\(result.stderr)")
        #expect(output.contains("alice@shop.example"))
        #expect(output.contains("SNAPSHOT  orders  {\"id\": 100}"))
        #expect(output.contains("intact: 10 events"))
        #expect(output.contains("public.orders: 5 payloads purged, 2 kept by the hold"))
        #expect(output.contains("verify: intact: 13 events, 5 with purged payloads"))
        #expect(output.contains("TAMPERED at seq 8: payload altered"))
        // The evidence report stays, says so first, and was held against the demo's signed checkpoints.
        #expect(output.contains("wrote \(report): TAMPERED at seq 8: payload altered"), "\(output)")
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(html.contains("TAMPERED at seq 8: payload altered") && html.contains("signed checkpoint(s) in"))
        let directory = output.split(separator: "\n").first { $0.contains("removing /tmp/walaudit-pg-") }?
            .split(separator: " ").last.map(String.init)
        let removed = try #require(directory)
        #expect(!FileManager.default.fileExists(atPath: removed), "\(removed) was left behind")
    }
}
