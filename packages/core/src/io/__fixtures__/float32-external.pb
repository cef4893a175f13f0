Bexternalj
locationexternal.dataj
offset16j
length40p