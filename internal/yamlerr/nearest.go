package yamlerr

import "strings"

// Nearest returns the word of known closest to w, for an "unknown key w;
// did you mean ...?" message, when it is close: an edit distance (a
// transposition counts as one edit, case, "-" and "_" as none) of at most
// 1 for a word of up to 4 letters, 2 up to 12 and 3 beyond. It returns ""
// when none is close or two are equally close.
func Nearest(w string, known []string) string {
	if len(w) > 64 {
		return ""
	}
	norm := strings.NewReplacer("_", "", "-", "")
	nw := norm.Replace(strings.ToLower(w))
	limit := 1
	switch n := len([]rune(w)); {
	case n > 12:
		limit = 3
	case n > 4:
		limit = 2
	}
	best, bestD, tie := "", limit+1, false
	for _, k := range known {
		d := editDistance(nw, norm.Replace(strings.ToLower(k)))
		switch {
		case d < bestD:
			best, bestD, tie = k, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// by rune: insertions, deletions, substitutions and transpositions of two
// neighbours each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
