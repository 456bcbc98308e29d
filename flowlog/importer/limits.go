package importer

import (
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge: content beyond a size limit (the upload module answers 413).
var ErrTooLarge = errors.New("too large")

// CapReader yields at most max bytes of r, then err: nothing beyond the
// cap is ever handed on.
func CapReader(r io.Reader, max int64, err error) io.Reader {
	return &capReader{r: r, left: max, err: err}
}

type capReader struct {
	r    io.Reader
	left int64
	err  error
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n = int(c.left)
		c.left = 0
		return n, c.err
	}
	c.left -= int64(n)
	return n, err
}

// CapDecompressed bounds decompressed content (max <= 0: no bound).
func CapDecompressed(r io.Reader, max int64) io.Reader {
	if max <= 0 {
		return r
	}
	return CapReader(r, max, fmt.Errorf("%w: decompresses to more than %d bytes (--max-upload-decompressed-bytes)", ErrTooLarge, max))
}
