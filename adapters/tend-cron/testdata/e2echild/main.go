// Command e2echild is the long-running child of tend-cron's end-to-end test
// (e2e_test.go), built static into a FROM scratch image. Subcommands:
//
//	run          fill /cache with old and fresh files, write numbered lines
//	             fast to /var/log/app/append.log (O_APPEND, for copytruncate)
//	             and /var/log/app/reopen.log (reopened on SIGHUP, for rename),
//	             leave orphans for PID 1 to reap, and on SIGTERM print how many
//	             lines it wrote and exit with $EXIT_ON_TERM (default 0)
//	exit N       exit with status N at once
//	ls DIR       print the names in DIR, one per line
//	cat FILE     print FILE
//	zombies      print the number of zombie processes
//	orphan       start a short-lived grandchild and exit without waiting
//	stubborn F   (a job) ignore SIGTERM, start a grandchild that ignores it
//	             too, write both pids to F and sleep for ever
//	ctrlc        print "ready", wait for SIGINT, count the SIGINTs of the
//	             next 500ms, print "got N SIGINT" and exit 3
//	hello        (a job) print a line to stdout and one to stderr
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: e2echild run|exit N|ls DIR|zombies|orphan")
	}
	switch os.Args[1] {
	case "run":
		run()
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		os.Exit(n)
	case "ls":
		ents, err := os.ReadDir(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		for _, e := range ents {
			fmt.Println(e.Name())
		}
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		pids := strconv.Itoa(os.Getpid())
		if len(os.Args) > 3 { // the grandchild
			for {
				time.Sleep(time.Hour)
			}
		}
		self, err := os.Executable()
		must(err)
		cmd := exec.Command(self, "stubborn", os.Args[2], "grandchild")
		if err := cmd.Start(); err != nil {
			fail(err.Error())
		}
		pids += " " + strconv.Itoa(cmd.Process.Pid)
		must(os.WriteFile(os.Args[2], []byte(pids+"\n"), 0o644))
		fmt.Println("stubborn pids", pids)
		for {
			time.Sleep(time.Hour)
		}
	case "ctrlc":
		ints := make(chan os.Signal, 16)
		signal.Notify(ints, syscall.SIGINT)
		fmt.Println("ready")
		select {
		case <-ints:
		case <-time.After(60 * time.Second):
			fail("no SIGINT in 60s")
		}
		n := 1
		for end := time.After(500 * time.Millisecond); ; {
			select {
			case <-ints:
				n++
				continue
			case <-end:
			}
			break
		}
		fmt.Printf("got %d SIGINT\n", n)
		os.Exit(3)
	case "hello":
		fmt.Println("hello from a job")
		fmt.Fprintln(os.Stderr, "and from its stderr")
	case "cat":
		data, err := os.ReadFile(os.Args[2])
		must(err)
		os.Stdout.Write(data)
	case "zombies":
		fmt.Println(zombies())
	case "orphan":
		// The grandchild outlives this process, is reparented to PID 1 and
		// becomes a zombie there unless PID 1 reaps it.
		cmd := exec.Command("/e2echild", "exit", "0")
		if err := cmd.Start(); err != nil {
			fail(err.Error())
		}
		fmt.Println(cmd.Process.Pid)
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "e2echild:", msg)
	os.Exit(2)
}

func run() {
	const dir = "/var/log/app"
	must(os.MkdirAll(dir, 0o755))
	must(os.MkdirAll("/cache/old", 0o755))
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i := range 50 {
		p := filepath.Join("/cache/old", fmt.Sprintf("old-%02d.bin", i))
		must(os.WriteFile(p, make([]byte, 4096), 0o644))
		must(os.Chtimes(p, old, old))
	}
	for i := range 5 {
		must(os.WriteFile(filepath.Join("/cache", fmt.Sprintf("fresh-%d.bin", i)), make([]byte, 4096), 0o644))
	}
	must(os.WriteFile("/run-child.pid", []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))

	open := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		must(err)
		return f
	}
	appendLog, reopenLog := open("append.log"), open("reopen.log")
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	fmt.Println("ready")
	orphans := time.NewTicker(500 * time.Millisecond)
	n := 0
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reopenLog.Close()
				reopenLog = open("reopen.log")
				fmt.Println("reopened reopen.log")
				continue
			}
			fmt.Printf("wrote %d lines\n", n)
			code, _ := strconv.Atoi(os.Getenv("EXIT_ON_TERM"))
			os.Exit(code)
		case <-orphans.C:
			out, err := exec.Command("/e2echild", "orphan").Output()
			if err == nil {
				fmt.Printf("left orphan %s", out)
			}
		default:
		}
		for range 20 {
			n++
			line := []byte(fmt.Sprintf("line %09d\n", n))
			_, err1 := appendLog.Write(line)
			_, err2 := reopenLog.Write(line)
			must(err1)
			must(err2)
		}
		time.Sleep(time.Millisecond)
	}
}

func zombies() int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) S ...: the state follows the last ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && strings.HasPrefix(s[i+1:], " Z") {
			n++
		}
	}
	return n
}

func must(err error) {
	if err != nil {
		fail(err.Error())
	}
}
