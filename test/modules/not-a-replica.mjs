/** A module that is not a replica module: it has no createReplica export. */
export const replica = 'not here';
