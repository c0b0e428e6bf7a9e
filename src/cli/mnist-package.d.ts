/** The `mnist` package (10,000 handwritten digits, 28x28, values in [0, 1]): one entry per digit. */
declare module 'mnist' {
  interface Digit {
    /** Samples of this digit. */
    readonly length: number;
    /** Sample `which`: 784 values, row by row. */
    get(which: number): number[];
  }
  const digits: Readonly<Record<0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9, Digit>>;
  export default digits;
}
