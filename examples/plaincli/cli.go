// Command plaincli is an ordinary Go CLI, written with no thought of
// cmdsrv: it prints with fmt.Println, reads os.Args, os.Getenv, os.Getwd
// and os.Stdin, fails with log.Fatal and exits 2 on a usage error, and
// computes a package variable from $HOME at start-up. Its main function
// is cliMain; warm.go (the default build) makes it warm in a few lines,
// plain.go (go build -tags plain) is the same CLI without cmdsrv, for
// comparison (examples/plaincli_test.go runs both, byte for byte).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// configDir is computed once, when the package initialises: in a server,
// from the server's $HOME (see docs/adopting.md).
var configDir = filepath.Join(os.Getenv("HOME"), ".config", "plaincli")

// greeting is read from the file $PLAINCLI_GREETING names, if set, when
// the package initialises, as CLIs read their configuration: a file that
// cannot be read ends every run, before main, with status 3.
var greeting = loadGreeting(os.Getenv("PLAINCLI_GREETING"))

func loadGreeting(path string) string {
	if path == "" {
		return "hello"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plaincli: bad greeting file:", err)
		os.Exit(3)
	}
	return strings.TrimSpace(string(b))
}

// A flag defined when the package initialises.
var exclaim = flag.Bool("exclaim", false, "end greetings with !")

const usage = "usage: plaincli [-upper] [-exclaim] hello NAME... | where | env NAME | config | cat | read FILE | fail | exit CODE"

func cliMain() {
	log.SetFlags(0)
	log.SetPrefix("plaincli: ")
	upper := flag.Bool("upper", false, "greet in capitals") // defined by main itself
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	args := flag.Args()[1:]
	switch flag.Arg(0) {
	case "hello":
		msg := greeting + " " + strings.Join(args, " ")
		if *upper {
			msg = strings.ToUpper(msg)
		}
		if *exclaim {
			msg += "!"
		}
		fmt.Println(msg)
	case "where":
		wd, err := os.Getwd()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(wd)
	case "env":
		if len(args) != 1 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Printf("%s=%s\n", args[0], os.Getenv(args[0]))
	case "config":
		fmt.Println(configDir)
	case "cat":
		n, err := io.Copy(os.Stdout, os.Stdin)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%d bytes\n", n)
	case "read":
		if len(args) != 1 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		b, err := os.ReadFile(args[0]) // relative to the working directory
		if err != nil {
			log.Fatal(err)
		}
		os.Stdout.Write(b)
	case "fail":
		fmt.Println("about to fail")
		log.Fatal("something went wrong")
	case "exit":
		code, err := strconv.Atoi(strings.Join(args, ""))
		if err != nil {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Println("leaving with", code)
		os.Exit(code)
	default:
		fmt.Fprintln(os.Stderr, "plaincli: unknown command", flag.Arg(0))
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
