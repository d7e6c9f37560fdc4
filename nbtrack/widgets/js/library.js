// Shared by every nbtrack widget module (prepended to it by nbtrack/widgets/_bundle.py):
// Vega arrives once as a gzipped ES module in a "library" message, and the page imports
// it once per digest; every widget on the page shares the import.

const LIBRARIES = (globalThis.__nbtrackVegaLibraries ??= new Map()); // digest -> Promise

function deferred() {
  let resolve, reject;
  const promise = new Promise((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

function importLibrary(digest, buffer) {
  let promise = LIBRARIES.get(digest);
  if (!promise) {
    promise = (async () => {
      const stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream("gzip"));
      const code = await new Response(stream).text();
      const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
      try {
        return (await import(/* webpackIgnore: true */ url)).default;
      } finally {
        URL.revokeObjectURL(url);
      }
    })();
    LIBRARIES.set(digest, promise);
    promise.catch(() => LIBRARIES.delete(digest));
  }
  return promise;
}
