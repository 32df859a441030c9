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
	head, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	// head ends with "tasks":null}
	bw.Write(head[:len(head)-len("null}")])
	bw.WriteByte('[')
	for i, t := range tasks {
		if i > 0 {
			bw.WriteByte(',')
		}
		s, ok := t.Report.(reportStreamer)
		if !ok {
			b, err := json.Marshal(t)
			if err != nil {
				return err
			}
			bw.Write(b)
			continue
		}
		t.Report = nil
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		bw.Write(b[:len(b)-1])
		bw.WriteString(`,"report":`)
		if err := s.WriteJSON(bw); err != nil {
			return err
		}
		bw.WriteByte('}')
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}
