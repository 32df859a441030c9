package main

import (
	"bufio"
	"encoding/json"
	"io"
)

// reportStreamer is a task report that writes its own JSON, streaming
// what may be long (cleanup.Report: a dry run's items, one by one).
type reportStreamer interface {
	WriteJSON(w io.Writer) error
}

// writeOnceJSON writes the --once --json document. It is the document
// json.Marshal would write, except that a task's report that can stream
// itself does, so a plan of a million items is never held as JSON in
// memory.
func writeOnceJSON(w io.Writer, rep onceReport) error {
	bw := bufio.NewWriter(w)
	tasks := rep.Tasks
	rep.Tasks = nil
	head, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	// head ends with "tasks": null\n}
	bw.Write(head[:len(head)-len("null\n}")])
	bw.WriteString("[")
	for i, t := range tasks {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		s, ok := t.Report.(reportStreamer)
		if !ok {
			b, err := json.MarshalIndent(t, "    ", "  ")
			if err != nil {
				return err
			}
			bw.Write(b)
			continue
		}
		t.Report = nil
		b, err := json.MarshalIndent(t, "    ", "  ")
		if err != nil {
			return err
		}
		bw.Write(b[:len(b)-len("\n    }")])
		bw.WriteString(",\n      \"report\": ")
		if err := s.WriteJSON(bw); err != nil {
			return err
		}
		bw.WriteString("    }")
	}
	if len(tasks) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}
