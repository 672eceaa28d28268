// tlogcheck checks walaudit's tree checkpoints and proofs with the stock Go
// packages golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, and
// nothing of walaudit: the test suite builds it to show that walaudit's
// output is what standard tools expect.
//
//	tlogcheck inclusion VERIFIER-KEY PROOF-FILE
//	    a c2sp.org/tlog-proof@v1 file whose extra line holds the leaf data
//	tlogcheck consistency VERIFIER-KEY OLD-NOTE NEW-NOTE PROOF-FILE
//	    two signed checkpoints and the consistency proof between them,
//	    one base64 hash per line
//
// Exit status 0 and "ok" when the check passes, 1 and the reason otherwise.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}

// checkpoint opens a signed note with the verifier key and parses its
// c2sp.org/tlog-checkpoint text: origin, tree size, base64 root hash.
func checkpoint(vkey string, msg []byte) (string, int64, tlog.Hash) {
	verifier, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		fail("bad verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint not accepted: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("not a tlog checkpoint: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("bad tree size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("bad root hash: %v", err)
	}
	return lines[0], size, root
}

func hashes(lines []string) []tlog.Hash {
	var out []tlog.Hash
	for _, line := range lines {
		if line == "" {
			continue
		}
		h, err := tlog.ParseHash(line)
		if err != nil {
			fail("bad proof hash %q: %v", line, err)
		}
		out = append(out, h)
	}
	return out
}

func read(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return data
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: tlogcheck inclusion VKEY PROOF | consistency VKEY OLD NEW PROOF")
	}
	switch os.Args[1] {
	case "inclusion":
		vkey, proof := string(read(os.Args[2])), read(os.Args[3])
		split := bytes.Index(proof, []byte("\n\n"))
		if split < 0 {
			fail("no checkpoint in the proof")
		}
		lines := strings.Split(string(proof[:split]), "\n")
		if lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "extra ") || !strings.HasPrefix(lines[2], "index ") {
			fail("not a tlog-proof with extra data: %q", lines[:3])
		}
		leaf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
		if err != nil {
			fail("bad extra: %v", err)
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(lines[2], "index "), 10, 64)
		if err != nil {
			fail("bad index: %v", err)
		}
		_, size, root := checkpoint(vkey, proof[split+2:])
		if err := tlog.CheckRecord(tlog.RecordProof(hashes(lines[3:])), size, root, index, tlog.RecordHash(leaf)); err != nil {
			fail("inclusion proof rejected: %v", err)
		}
	case "consistency":
		vkey := string(read(os.Args[2]))
		oldOrigin, oldSize, oldRoot := checkpoint(vkey, read(os.Args[3]))
		newOrigin, newSize, newRoot := checkpoint(vkey, read(os.Args[4]))
		if oldOrigin != newOrigin {
			fail("checkpoints of two logs: %q and %q", oldOrigin, newOrigin)
		}
		proof := tlog.TreeProof(hashes(strings.Split(string(read(os.Args[5])), "\n")))
		if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
			fail("consistency proof rejected: %v", err)
		}
	default:
		fail("unknown check %q", os.Args[1])
	}
	fmt.Println("ok")
}
