// Command wordindex is an example cmdsrv application with an expensive
// start-up: it builds an index of a large word list (a generated corpus of
// 300,000 words, or the file named by $WORDINDEX_FILE) before it can
// answer anything. Run directly, every call pays for the index; served
// through chg or the unix service, the index is built once per worker and
// every call is warm.
//
//	wordindex prefix gra          # cold: builds the index, then answers
//	CHGHG=$(which wordindex) chg prefix gra   # warm after the first call
package main

import (
	"os"

	"github.com/cmdsrv/cmdsrv"
)

func main() {
	p := cmdsrv.Program{Name: "wordindex", NewHandler: newIndexHandler}
	os.Exit(p.Main(os.Args))
}
