//! A vector that takes one word in its owner until its first element: most connections
//! never fill their SACK scoreboard or reassembly list, and each would otherwise carry an
//! empty `Vec` (three words) for it.

/// A `Vec<T>` behind an optional box: reads see an empty slice until the first write.
/// The box is the point (one word in the owner instead of three), hence the allow.
#[derive(Clone, Debug)]
#[allow(clippy::box_collection)]
pub(crate) struct LazyVec<T>(Option<Box<Vec<T>>>);

impl<T> Default for LazyVec<T> {
    fn default() -> LazyVec<T> {
        LazyVec(None)
    }
}

impl<T: PartialEq> PartialEq for LazyVec<T> {
    fn eq(&self, other: &LazyVec<T>) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for LazyVec<T> {}

impl<T> LazyVec<T> {
    /// The vector, allocated on first use with room for `reserve` elements (so that later
    /// writes up to that length allocate nothing).
    pub(crate) fn get_mut(&mut self, reserve: usize) -> &mut Vec<T> {
        self.0
            .get_or_insert_with(|| Box::new(Vec::with_capacity(reserve)))
    }

    /// The vector, if it was ever written.
    pub(crate) fn as_vec_mut(&mut self) -> Option<&mut Vec<T>> {
        self.0.as_deref_mut()
    }
}

impl<T> core::ops::Deref for LazyVec<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match &self.0 {
            Some(v) => v,
            None => &[],
        }
    }
}

impl<T> core::ops::DerefMut for LazyVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.0 {
            Some(v) => v,
            None => &mut [],
        }
    }
}

impl<'a, T> IntoIterator for &'a LazyVec<T> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> core::slice::Iter<'a, T> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::LazyVec;

    #[test]
    fn empty_until_written_then_a_vector() {
        let mut v: LazyVec<u32> = LazyVec::default();
        assert!(v.is_empty());
        assert!(v.as_vec_mut().is_none());
        assert_eq!(core::mem::size_of::<LazyVec<u32>>(), 8);
        v.get_mut(4).push(7);
        assert_eq!(&v[..], &[7]);
        assert!(v.as_vec_mut().is_some_and(|x| x.capacity() >= 4));
        assert_eq!(v, v.clone());
    }
}
