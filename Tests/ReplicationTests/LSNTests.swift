import Decoding
import Testing

@Suite struct LSNTests {
    @Test func textRoundTripsAsPostgreSQLPrintsIt() {
        #expect(LSN(0x16_B374_D848).description == "16/B374D848")
        #expect(LSN("16/B374D848") == LSN(0x16_B374_D848))
        #expect(LSN("FFFFFFFF/FFFFFFFF") == LSN(UInt64.max))
        #expect(LSN("0/0") == .zero)
    }

    @Test func malformedTextIsRefused() {
        for text in ["", "16", "16/", "/1", "1/2/3", "100000000/0", "0/100000000", "g/0", "-1/0", "+1/0"] {
            #expect(LSN(text) == nil, "\(text)")
        }
    }
}
