// Reads a signed checkpoint and a verifier key; prints what a standard C2SP checkpoint
// reader (transparency-dev/formats log.ParseCheckpoint on golang.org/x/mod sumdb/note) makes of it.
package main

import (
	"encoding/base64"
	"fmt"
	"os"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	cp, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	v, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fmt.Println("bad vkey:", err)
		os.Exit(2)
	}
	c, rest, _, err := log.ParseCheckpoint(cp, v.Name(), v)
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
	fmt.Printf("accepted origin=%s size=%d root=%s extension=%q\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash), string(rest))
}
