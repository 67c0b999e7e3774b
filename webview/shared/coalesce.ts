/**
 * Coalesces a burst of calls (live events arrive many per frame) into one call on the next
 * animation frame, or after 100 ms where frames are throttled (a hidden webview).
 */
export function coalesced(fn: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    const go = (): void => {
      if (pending) {
        pending = false;
        fn();
      }
    };
    requestAnimationFrame(go);
    setTimeout(go, 100);
  };
}
