import { type RefObject, useLayoutEffect, useRef } from "react";

/**
 * A ref that always holds the latest `value`, for callbacks an effect reads without depending
 * on them (changing `onMessage` must not resubscribe). Layout effects run before the passive
 * effects that read it.
 */
export function useLatest<T>(value: T): RefObject<T> {
  const ref = useRef(value);
  useLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}
